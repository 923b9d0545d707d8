// One rank of the data-parallel test (ddp.test.ts): trains the config given as JSON in argv[2] with train(), which
// joins the job from torchrun's variables in the environment.
import { parseConfig, type ConfigInput } from '../../src/config/schema.js';
import { train } from '../../src/engine/trainer.js';

const config = parseConfig(JSON.parse(process.argv[2] as string) as ConfigInput);
await train(config, { hooks: { onMessage: (l) => console.log(l) } });
