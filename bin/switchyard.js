#!/usr/bin/env node
// The CLI is TypeScript run by Node 24's built-in type stripping (no build step needed to start).
import '../src/cli/main.ts';
