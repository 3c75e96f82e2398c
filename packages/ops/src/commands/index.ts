import type { Command } from '../command.js';
import { createDrCommand } from './dr.js';
import { integrityCommands } from './integrity.js';
import { mariadbBackupCommands } from './mariadb-backup.js';
import { postgresCommands } from './postgres.js';
import { redisCommands } from './redis.js';
import { sequenceCommands } from './sequences.js';

const building: readonly Command[] = [...mariadbBackupCommands, ...redisCommands, ...postgresCommands, ...integrityCommands, ...sequenceCommands];

/** Every command, in the order `pnpm ops help` lists them. Each area owns one module; `dr` runs the others. */
export const commands: readonly Command[] = [...building, createDrCommand(() => building)];
