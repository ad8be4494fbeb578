/** A buffer twice the size holding what `full` holds: for a file that grew since lstat. */
export function grown(full: Buffer): Buffer<ArrayBuffer> {
  const bigger = Buffer.allocUnsafe(full.length * 2);
  full.copy(bigger);
  return bigger;
}
