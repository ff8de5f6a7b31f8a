export const usage = `Usage: switchyard <command> [options]

Commands:
  start                                   API, web app (/), webhooks, worker and
                                          scheduler in one process
                                          (embedded PostgreSQL when DATABASE_URL is unset)
  api                                     the HTTP API, web app and webhook ingress only
                                          (scale out)
  migrate                                 apply database migrations and exit
  tenant create --name N --owner-email E  create a tenant and its owner; prints the owner's
               [--json]                   first API token once
  user set-password --email E [--json]    set a user's password (read from stdin or a
                                          hidden prompt, never argv); signs them out
  user disable|enable --email E [--json]  take away (or give back) a user's sign-in,
                                          sessions and the API tokens they created
  keys rotate [--no-new-version] [--json] new KEK version; re-wrap every tenant's data keys
  keys reencrypt [--tenant ID]... [--json]
                                          new data keys; re-encrypt every stored secret
  keys retire --version N [--json]        retire KEK versions up to N (none may still be used)
  keys status [--json]                    KEK versions and the data keys under each
  worker                                  claim and run workflow steps (drains on SIGTERM)
  scheduler                               fire cron triggers and run retention (any number
                                          may run)
  dlq list --tenant ID [--workflow ID] [--code E] [--since T] [--until T] [--pending]
           [--limit N] [--json]           list dead-lettered runs, newest first
  dlq replay --tenant ID (--id DL ... | --all [filters]) [--from failed-step|start]
           [--again] [--json]             replay dead letters as new, linked runs (once each;
                                          --again replays those already replayed)
  retention run [--dry-run] [--json]      delete what the retention policy no longer keeps
                                          (old runs, logs, audit events); --dry-run counts

Configuration comes from environment variables: see the README.
`;

/** A command-line mistake: usage on stderr and exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
