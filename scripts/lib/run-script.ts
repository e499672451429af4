/** Runs a script's main function: prints a readable reason and exits non-zero when it fails. */
export function runScript(main: () => Promise<void>): void {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      console.error(`\n✖ ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
