export const usage = `Usage: switchyard <command> [options]

Commands:
  start                                   API, UI, worker and scheduler in one process
                                          (embedded PostgreSQL when DATABASE_URL is unset)
  migrate                                 apply database migrations and exit
  tenant create --name N --owner-email E  create a tenant and its owner; prints the owner's
               [--json]                   first API token once

Configuration comes from environment variables: see the README.
`;

/** A command-line mistake: usage on stderr and exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
