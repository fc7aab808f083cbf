/**
 * The fan-out seam between instances that share one store: what a room publishes once it has
 * committed something, and what the registry hears back. With no bus configured there is none and
 * a room only relays to its own connections. `RedisBus` (./redis-bus.ts) is the implementation.
 *
 * The promise a bus keeps: every frame published while it is up reaches every instance subscribed
 * to the room; when it cannot keep that (Redis unreachable, a publish failed, a subscriber dropped),
 * it says so with `resync`, and the registry re-reads those rooms from the shared store. Duplicates
 * are harmless to Yjs; gaps are not, so a bus errs on the side of asking for a resync. Policy
 * announcements keep the same promise: when some may have been missed, `policiesStale`.
 */
import type { BusEntry, BusKind } from './bus-message.ts'

/** What a room needs of the bus. */
export interface RoomPublisher {
  /** Sends `payload` to the room's other instances (never blocks; failures are the bus's to handle). */
  publish(room: string, kind: BusKind, payload: Uint8Array): void
}

/** What the access API needs of the bus: announcing that a room's policy changed in the store. */
export interface PolicyPublisher {
  /** Tells every other instance to re-read `room`'s policy (revocations, mode) from the store. */
  publishPolicy(room: string): void
}

export interface RoomBus extends RoomPublisher, PolicyPublisher {
  /** This instance's id on the bus (frames from it are ignored on receipt). */
  readonly instanceId: string
  /** Null while publishing and receiving work; otherwise why not (for `GET /ready`). */
  readonly problem: string | null
  /**
   * Subscribes to `room`. Resolves once subscribed, or at once when the bus is down (the bus then
   * asks for a resync of every room when it is back). Never rejects.
   */
  subscribe(room: string): Promise<void>
  unsubscribe(room: string): void
  /** Where policy announcements go (every instance hears every room's, loaded here or not). */
  usePolicyListener(listener: PolicyListener): void
  /** Publishes what is pending, then disconnects. */
  close(): Promise<void>
}

/** What a bus reports to (the room registry). */
export interface RoomBusListener {
  /** An entry another instance published for `room` (in the order it published them). */
  message(room: string, entry: BusEntry): void
  /** Frames for `rooms` may have been missed: bring them up to date from the store. */
  resync(rooms: string[]): void
}

/** What a bus reports about room policies (to live access control, auth/live-access.ts). */
export interface PolicyListener {
  /** Another instance changed `room`'s policy in the store. */
  policyChanged(room: string): void
  /** Announcements may have been missed (the subscriber was away): every cached policy is suspect. */
  policiesStale(): void
}

/** What a bus counts (see metrics.ts). */
export interface FanoutMetrics {
  fanoutPublished(kind: BusKind, bytes: number): void
  fanoutReceived(kind: BusKind, bytes: number, latencySeconds: number): void
  busFailed(operation: 'publish' | 'subscribe' | 'ping' | 'connection'): void
  resynced(rooms: number): void
}
