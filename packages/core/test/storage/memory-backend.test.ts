import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { backendSuite } from './backend-suite.js';

backendSuite('memory', async () => new MemoryBackend());
