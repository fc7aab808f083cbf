/**
 * Replays a concurrent editing trace (a DAG of transactions, see tests/fixtures/traces/README.md)
 * through OT: a central server and one replica per agent, linked by Jupiter links.
 *
 * The server orders the transactions as the trace lists them (a topological order). Before agent a's
 * transaction t, a's replica takes the server's messages, in server order, until it holds exactly t's
 * parent version: all of a's earlier transactions (always there: an agent's edits are totally ordered) and,
 * for every other agent, the first k of its transactions that t's parents contain. The patches then apply
 * to the replica as written, are composed into one op and sent; the server's end of the link transforms it
 * past the ops a had not seen yet and broadcasts the result. Ties go by agent id (site priority, see
 * jupiter-link.ts). If a message a must take before t carries a
 * transaction t did not see, no replay in this order exists: UnlinearizableHistoryError.
 * Positions count UTF-16 units (the traces' code points, for BMP-only traces).
 */
import { apply } from './apply.ts'
import { compose } from './compose.ts'
import { UnlinearizableHistoryError } from './errors.ts'
import { type JupiterMessage, JupiterSite } from './jupiter-link.ts'
import { spliceOp, type TextOp } from './op.ts'
import { Rope } from './rope.ts'

/** The parts of a concurrent trace the replay reads. */
export interface ConcurrentHistory {
  numAgents: number
  txns: { parents: number[]; agent: number; patches: [number, number, string][] }[]
}

/** Outcome of a replay: the server's text, each replica's text and the transform count. */
export interface ReplayResult {
  server: string
  replicas: string[]
  transforms: number
}

interface Replica {
  doc: Rope
  link: JupiterSite
  inbox: { message: JupiterMessage; agent: number }[]
  next: number
  /** Transactions of each agent this replica holds. */
  seen: number[]
}

/** Replays `history` through an OT server and one replica per agent; see the module comment. */
export function replayConcurrentOT(history: ConcurrentHistory): ReplayResult {
  const k = history.numAgents
  const server = new Rope()
  const serverLinks = Array.from({ length: k }, () => new JupiterSite())
  const replicas: Replica[] = Array.from({ length: k }, () => ({
    doc: new Rope(),
    link: new JupiterSite(),
    inbox: [],
    next: 0,
    seen: new Array(k).fill(0),
  }))
  const versions: Int32Array[] = []
  history.txns.forEach((txn, t) => {
    const a = txn.agent
    const need = new Int32Array(k)
    for (const p of txn.parents) for (let b = 0; b < k; b++) need[b] = Math.max(need[b], versions[p][b])
    const replica = replicas[a]
    if (need[a] !== replica.seen[a]) {
      throw new UnlinearizableHistoryError(`txn ${t}: agent ${a}'s edits are not totally ordered`)
    }
    catchUp(replica, need, t)
    let op: TextOp = []
    for (const [pos, del, ins] of txn.patches) {
      const patch = spliceOp(pos, del, ins)
      apply(replica.doc, patch)
      op = compose(op, patch)
    }
    replica.seen[a]++
    const atServer = serverLinks[a].receive(replica.link.send(op, a))
    apply(server, atServer)
    for (let b = 0; b < k; b++) {
      if (b !== a) replicas[b].inbox.push({ message: serverLinks[b].send(atServer, a), agent: a })
    }
    const version = Int32Array.from(need)
    version[a]++
    versions.push(version)
  })
  for (const replica of replicas) catchUp(replica, null, history.txns.length)
  const transforms = [...serverLinks, ...replicas.map((r) => r.link)].reduce((n, l) => n + l.transforms, 0)
  return { server: server.toString(), replicas: replicas.map((r) => r.doc.toString()), transforms }
}

/** Delivers server messages to `replica` until it holds `need` of every agent (all of them when null). */
function catchUp(replica: Replica, need: Int32Array | null, t: number): void {
  const missing = () => need === null || replica.seen.some((n, b) => n < need[b])
  while (replica.next < replica.inbox.length && missing()) {
    const { message, agent } = replica.inbox[replica.next++]
    if (need !== null && replica.seen[agent] >= need[agent]) {
      throw new UnlinearizableHistoryError(
        `txn ${t}: the server ordered an edit of agent ${agent} it did not see`,
      )
    }
    apply(replica.doc, replica.link.receive(message))
    replica.seen[agent]++
  }
  if (need !== null && missing())
    throw new UnlinearizableHistoryError(`txn ${t}: a parent is not at the server`)
  if (replica.next > 4096) {
    replica.inbox = replica.inbox.slice(replica.next)
    replica.next = 0
  }
}
