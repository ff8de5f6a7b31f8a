/** The Health page's GraphQL documents (pages/health.vue). */
import { graphql, type ResultOf } from '~/graphql/client';

export const HealthQuery = graphql(`
  query SystemHealth {
    systemHealth {
      generatedAt
      queue {
        due
        delayed
        running
        oldestDueSeconds
      }
      backlog {
        at
        waiting
        inFlight
        oldestWaitingSeconds
      }
      runsPerMinute {
        minute
        succeeded
        failed
        canceled
        dead
      }
      stepDurations {
        actionId
        appKey
        actionKey
        actionName
        attempts
        p95Ms
      }
      circuitBreakers {
        host
        connectionKey
        state
        failures
        openUntil
      }
      workers {
        id
        leaseExpiresAt
        running {
          runId
          workflowName
          stepId
        }
      }
      waitingRuns {
        runId
        workflowName
        until
        reason
      }
      lastRetentionPass {
        at
        deleted
      }
    }
  }
`);
export const HealthRunChanged = graphql(`
  subscription HealthRunChanged {
    runChanged {
      runId
    }
  }
`);

export type Health = ResultOf<typeof HealthQuery>['systemHealth'];
