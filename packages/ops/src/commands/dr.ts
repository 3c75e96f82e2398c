import type { Command } from '../command.js';

export const drCommands: Command[] = [];
