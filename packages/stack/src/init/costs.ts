/**
 * What the guard costs per month, in US cents (us-east-1 list prices, 2026): each device's
 * alarm ($0.10 per standard metric alarm) and its custom metric (the metric filter's
 * `User` dimension makes one metric per device: $0.30), the Lambda (runs only on a
 * quarantine: free tier), the trail (the first copy of management events is free; its
 * CloudWatch Logs ingestion, $0.50 per GB, is typically a few cents for a small account),
 * S3 data events for the backup bucket ($0.10 per 100,000; an hourly push makes ~15,000 a
 * month).
 */
export interface MonthlyCost {
  alarmCents: number;
  metricCents: number;
  lambdaCents: number;
  trailLogsCents: number;
  dataEventsCents: number;
  totalCents: number;
}

export function monthlyCost(options: { devices: number; dataEvents: boolean }): MonthlyCost {
  const alarmCents = 10 * options.devices;
  const metricCents = 30 * options.devices;
  const lambdaCents = 0;
  const trailLogsCents = 5;
  const dataEventsCents = options.dataEvents ? 2 * options.devices : 0;
  return {
    alarmCents,
    metricCents,
    lambdaCents,
    trailLogsCents,
    dataEventsCents,
    totalCents: alarmCents + metricCents + lambdaCents + trailLogsCents + dataEventsCents,
  };
}
