import type { Command } from '../command.js';

export const mariadbBackupCommands: Command[] = [];
