/**
 * A meeting point for concurrent work: what arrives waits until `parties` have arrived, so two transactions
 * are known to be open at once whatever the machine's speed. Later arrivals pass straight through.
 */
export function barrier(parties: number): { arrive(): Promise<void> } {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    arrive(): Promise<void> {
      arrived += 1;
      if (arrived >= parties) open();
      return opened;
    },
  };
}
