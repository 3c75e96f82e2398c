import type { Command } from '../command.js';

export const sequenceCommands: Command[] = [];
