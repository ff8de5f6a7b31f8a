/** The GraphQL documents of the failures page and its dialogs. */
import { graphql, type ResultOf, type VariablesOf } from '~/graphql/client';

export const DeadLettersQuery = graphql(`
  query DeadLetters($filter: DeadLetterFilter, $after: String) {
    deadLetters(filter: $filter, first: 50, after: $after) {
      nodes {
        id
        runId
        workflowId
        failedStepId
        error
        context
        retryCount
        replayRunId
        replayedAt
        createdAt
      }
      endCursor
      hasNextPage
    }
    workflows(includeArchived: true, first: 100) {
      nodes {
        id
        name
        versions {
          id
          version
        }
      }
    }
  }
`);

export const FailedRunQuery = graphql(`
  query FailedRun($id: ID!) {
    run(id: $id) {
      id
      workflowVersionId
      steps {
        id
        stepId
        attempt
        status
        input
      }
    }
  }
`);

export const ReplayRunsMutation = graphql(`
  mutation ReplayRuns($filter: DeadLetterFilter!, $from: ReplayFrom, $again: Boolean) {
    replayRuns(filter: $filter, from: $from, again: $again) {
      deadLetterId
      runId
      newRunId
      alreadyReplayed
    }
  }
`);

export const ReplayPreviewQuery = graphql(`
  query ReplayPreview($filter: DeadLetterFilter!) {
    replayPreview(filter: $filter) {
      asOf
      total
      pending
      versions {
        workflowId
        version
        total
        pending
      }
    }
  }
`);

export type DeadLetter = ResultOf<typeof DeadLettersQuery>['deadLetters']['nodes'][number];
export type DeadLetterFilter = VariablesOf<typeof ReplayPreviewQuery>['filter'];
export type Workflows = ResultOf<typeof DeadLettersQuery>['workflows']['nodes'];
export type Replayed = ResultOf<typeof ReplayRunsMutation>['replayRuns'][number];

/** The error a dead letter recorded: `{code, message, retryable}` from the step. */
export function failureOf(d: DeadLetter): { code: string; message: string } {
  const e = (d.error ?? {}) as { code?: unknown; message?: unknown };
  return {
    code: typeof e.code === 'string' ? e.code : 'E_UNKNOWN',
    message: typeof e.message === 'string' ? e.message : '',
  };
}
