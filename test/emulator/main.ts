// `npm run emulator` (via scripts/emulator.mjs): the emulators for demos, EC2/SSM/IMDS and RunPod.
// Launches one demo instance so there is an IMDS to point at, prints `export` lines for a shell,
// and runs until Ctrl-C.
import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { parseArgs } from 'node:util';
import { DEFAULT_AMI_ID, EMULATOR_CREDENTIALS, startEmulator } from './index.js';
import { startRunpodEmulator } from './runpod.js';

const { values } = parseArgs({
  options: {
    region: { type: 'string', default: 'us-east-1' },
    'pending-ms': { type: 'string', default: '300' },
    'no-demo': { type: 'boolean', default: false },
  },
});

const emu = await startEmulator({ region: values.region, pendingMs: Number(values['pending-ms']) });
// pods reach the S3 store with the credentials trainctl puts in their env
const runpod = await startRunpodEmulator();
let demo = '# no demo instance (--no-demo): each instance has its own IMDS, see RunInstances';
if (!values['no-demo']) {
  const ec2 = new EC2Client({ endpoint: emu.ec2Endpoint, region: emu.region, credentials: EMULATOR_CREDENTIALS });
  const run = await ec2.send(new RunInstancesCommand({
    ImageId: DEFAULT_AMI_ID, InstanceType: 'g5.xlarge', MinCount: 1, MaxCount: 1, InstanceMarketOptions: { MarketType: 'spot' },
    TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'emulator-demo' }] }],
  }));
  const id = run.Instances![0]!.InstanceId!;
  const inst = emu.instances().find((i) => i.id === id)!;
  demo = `export AWS_EC2_METADATA_SERVICE_ENDPOINT=${inst.imdsEndpoint}   # IMDS of demo instance ${id} (dir ${inst.dir})`;
}

const lines = [
  ...Object.entries(emu.env).map(([k, v]) => `export ${k}=${v}`),
  demo,
  ...Object.entries(runpod.env).map(([k, v]) => `export ${k}=${v}`),
  '# Debian\'s aws CLI ignores AWS_ENDPOINT_URL_*; pass the endpoint:',
  '#   aws --endpoint-url "$AWS_ENDPOINT_URL_EC2" ec2 describe-instances',
  '#   aws --endpoint-url "$AWS_ENDPOINT_URL_SSM" ssm send-command --document-name AWS-RunShellScript --instance-ids <id> --parameters commands=hostname',
  '# emulator running; Ctrl-C to stop',
];
process.stdout.write(`${lines.join('\n')}\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void Promise.all([emu.stop(), runpod.stop()]).then(() => process.exit(0), (e: unknown) => {
      process.stderr.write(`emulator: ${String(e)}\n`);
      process.exit(1);
    });
  });
}
