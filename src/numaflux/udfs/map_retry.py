"""map-retry: counts how often it has seen each payload (in memory); the first two times it tags the
message "retry" (so a cycle edge sends it back), the third time it forwards it untagged and forgets the
count — as numaflow-go's retry example.  Run with one replica: the counts are per process."""

from pynumaflow.mapper import Datum, MapAsyncServer, Message, Messages

SUCCESS_ITERATION = 3
RETRY_TAG = "retry"

counts: dict[bytes, int] = {}


def attempt(value: bytes) -> Message:
    seen = counts.get(value, 0) + 1
    print(f"count for {value!r}={seen}", flush=True)
    if seen >= SUCCESS_ITERATION:
        counts.pop(value, None)
        return Message(value)
    counts[value] = seen
    return Message(value, tags=[RETRY_TAG])


async def handler(keys: list[str], datum: Datum) -> Messages:
    return Messages(attempt(datum.value))


def main() -> None:
    MapAsyncServer(handler).start()


if __name__ == "__main__":
    main()
