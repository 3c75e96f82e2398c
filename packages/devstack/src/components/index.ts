import { mariadbComponent } from './mariadb.js';
import { monitoringComponent } from './monitoring.js';
import { nginxComponent } from './nginx.js';
import { postgresComponent } from './postgres.js';
import { redisComponent } from './redis.js';
import { serviceComponent } from './service.js';
import type { Component } from './types.js';

/** Start order: data stores first, then the service, then what fronts and watches it. */
export const components: Component[] = [redisComponent, mariadbComponent, postgresComponent, serviceComponent, nginxComponent, monitoringComponent];

export * from './types.js';
export { reloadNginx, writeNginxConf } from './nginx.js';
export { alertsFile, prometheusTargets } from './monitoring.js';
export { migrate } from './service.js';
export { httpJson, httpOk } from './http.js';
