import type { Command } from '../command.js';

export const redisCommands: Command[] = [];
