import { listKeys } from '@backupctl/core';
import { BaseCommand } from '../../base-command.js';
import { table } from '../../render/format.js';
import { localTime } from '../../render/local-time.js';

export default class KeyList extends BaseCommand {
  static override summary = 'List the key files (one per passphrase) of the repository.';
  static override examples = ['<%= config.bin %> key list', '<%= config.bin %> key list --json'];

  async run(): Promise<void> {
    await this.parse(KeyList);
    const list = await this.withRepository((session) => listKeys(session.repo));
    if (this.jsonMode) return this.printJson(list);
    this.say(
      table([
        ['', 'ID', 'HOST', 'CREATED'],
        ...list.map((k) => [k.current ? '*' : '', k.shortId, k.host, localTime(k.created)]),
      ]),
    );
    this.say('* the key your passphrase opens');
  }
}
