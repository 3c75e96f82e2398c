import closeWithGrace from 'close-with-grace';
import Fastify from 'fastify';
import fp from 'fastify-plugin';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import serviceApp, { serverOptions } from './app.js';
import { EnvError, loadServiceEnv, type ServiceEnv } from './config.js';

/** Entry point: validate the environment, build the app, listen, and close gracefully on signals. */

let env: ServiceEnv;
try {
  env = loadServiceEnv();
} catch (e) {
  console.error(e instanceof EnvError ? e.message : String(e));
  process.exit(1);
}

const app = Fastify(serverOptions(env)).withTypeProvider<TypeBoxTypeProvider>();
// fp: the app's decorators and hooks stay on the root instance.
await app.register(fp(serviceApp), { env });

closeWithGrace({ delay: 15_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  else app.log.info({ signal }, 'closing');
  await app.close();
});

try {
  await app.listen({ host: env.HOST, port: env.PORT });
  app.log.info({ release: env.RELEASE, version: env.SERVICE_VERSION, coalesce: env.COALESCE }, 'numbering service listening');
} catch (e) {
  app.log.error({ err: e }, 'could not listen');
  process.exit(1);
}
