/** Type-level assertions for consumer files: they compile only when the types are as stated. */
export type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;

/** Compiles only when `Actual` and `Expected` are the same type. */
export function assertType<Expected>() {
  return <Actual>(_value: Actual, ..._check: Equal<Actual, Expected> extends true ? [] : ["types differ", Actual]): void => {};
}
