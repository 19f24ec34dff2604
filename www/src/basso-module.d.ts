declare module 'basso' {
  export default function init(): Promise<void>;
  export function resolve(yaml: string, options: unknown): unknown;
  export function inputs(yaml: string): unknown;
  export function check(yaml: string, options?: unknown): unknown;
  export function references(template: string, options: unknown): unknown;
}
