/**
 * stepwise: event-driven workflows for LLM and agent applications.
 * @packageDocumentation
 */

// Events
export {
  Event,
  StartEvent,
  StopEvent,
  InputRequiredEvent,
  HumanResponseEvent,
  StepFailedEvent,
  type StepFailure,
  eventTypeName,
  isEvent,
  isEventClass,
  type EventClass,
  type EventOf,
  type EventJSON,
  type EventConstructor,
} from "./core/events.js";

// Workflows and steps
export { Workflow, describeWorkflow, type WorkflowOptions, type WorkflowDescription, type AnyState } from "./core/workflow.js";
export { type StateSchema, type StateStore, type StatePath, type StateValue } from "./core/state.js";
export { type RunStartOptions } from "./core/start.js";
export { type StepOptions, type StepDefinition, type RetryPolicy, type ErrorClass, type NoResources, type StepHandler, type StepResult, type EventClasses } from "./core/step.js";
// `step(options)` is the decorator; `step(options, handler)` a step for `createWorkflow` (function style).
export { step, createWorkflow, type WorkflowStep, type WorkflowSteps, type StepFactory, type CreateWorkflowOptions, type InputOfSteps, type ResultOfSteps } from "./function.js";
export { resource, provide, Resource, type ResourceScope, type Provided, type ResourceMap, type ResourcesOf } from "./core/resource.js";
export { Context, type RunState, type WaitOptions, type StoreOf } from "./core/context.js";
export { WorkflowHandler } from "./core/handler.js";
export { App, type AppOptions } from "./core/app.js";
export { streamOrigin, type StreamOrigin } from "./core/driver/run.js";

// Errors
export {
  WorkflowError,
  WorkflowValidationError,
  EventValidationError,
  WorkflowTimeoutError,
  WorkflowRuntimeError,
  WorkflowCancelledError,
  StreamConsumedError,
  StateValidationError,
  type ErrorContext,
} from "./core/errors.js";

// Seams: inspection, time, storage, execution
export { inspect, verbosePrinter, type InspectionEvent, type InspectOptions, type Inspector, type RunStatus } from "./core/inspect.js";
export { getTracer, setTracer, type RunTrace, type RunTraceInfo, type StepKind, type StepTraceInfo, type TraceCarrier, type Tracer } from "./core/trace.js";
// Traces with nothing to configure (SPEC 11): a tracer that turns into the OpenTelemetry one on the first run when @opentelemetry/api is installed.
import "./otel/auto.js";
export { TestClock, systemClock, type Clock } from "./core/clock.js";
export { MemoryStore, type Store, type StoredRun, type RunFilter, type RunCursor, type JournalRecord, type JournalEntry, type ErrorJSON } from "./core/store.js";
export { type Durability } from "./core/durable/journal.js";
export { type Runtime, type StepTask, type StepOutcome, type StepScope, type StepWrite, type StepRequest, type StepReply } from "./core/runtime.js";
export { executeTask } from "./core/worker.js";

// Durable runs (SPEC 6): stores, leases, resume
export {
  JOURNAL_FORMAT,
  isLive,
  fenceError,
  duplicateSeqError,
  type Lease,
  type LeaseResult,
  type LeaseOptions,
  type NewRunLease,
  type WriteOptions,
  type AppendOptions,
  type RunEnd,
  type InboxItem,
} from "./core/store.js";
export { StoreError, StoreVersionError, RunNotFoundError, RunLockedError, RunFinishedError, JournalMismatchError, UnknownEventTypeError, RunSuspendedError } from "./core/errors.js";
export { suspendRun, replay, type Restored, type Replayed } from "./core/durable/resume.js";
export { namedOwner, type LeaseOwner } from "./core/durable/lease.js";
