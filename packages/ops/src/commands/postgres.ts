import type { Command } from '../command.js';

export const postgresCommands: Command[] = [];
