/** The harness's handle on a load-generator child process (./generator.ts): send a command, await its answer. */
import { type ChildProcess, spawn } from 'node:child_process'
import type { GeneratorCommand } from './generator.ts'

type Reply = { type: string; message?: string; [key: string]: unknown }

export class GeneratorProcess {
  private readonly child: ChildProcess
  private listeners = new Set<(reply: Reply) => void>()
  private stderr = ''

  constructor(script: string, cpu: string | null) {
    const args = ['--max-old-space-size=4096', script]
    const [file, argv] = cpu ? ['taskset', ['-c', cpu, process.execPath, ...args]] : [process.execPath, args]
    this.child = spawn(file, argv, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], serialization: 'advanced' })
    this.child.stderr?.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 10_000) this.stderr += chunk.toString()
    })
    this.child.on('message', (reply: Reply) => {
      for (const listener of [...this.listeners]) listener(reply)
    })
  }

  /** Sends `command` and resolves with the first reply of type `answer`; `onMark` sees 'mark' events. */
  request<T extends { type: string }>(
    command: GeneratorCommand,
    answer: string,
    timeoutMs: number,
    onMark?: (phase: string) => void,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        this.listeners.delete(listener)
        this.child.off('exit', onExit)
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`generator: no '${answer}' within ${timeoutMs} ms`))
      }, timeoutMs)
      const onExit = (code: number | null): void => {
        done()
        reject(new Error(`generator exited (${code}) before '${answer}': ${this.stderr.slice(0, 2000)}`))
      }
      const listener = (reply: Reply): void => {
        if (reply.type === 'mark') onMark?.(String(reply.phase))
        else if (reply.type === 'error') {
          done()
          reject(new Error(`generator: ${reply.message}`))
        } else if (reply.type === answer) {
          done()
          resolve(reply as unknown as T)
        }
      }
      this.listeners.add(listener)
      this.child.once('exit', onExit)
      this.child.send(command)
    })
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve()
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000)
      this.child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      this.child.send({ cmd: 'close' })
    })
  }
}
