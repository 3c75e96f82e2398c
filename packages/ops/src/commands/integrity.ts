import type { Command } from '../command.js';

export const integrityCommands: Command[] = [];
