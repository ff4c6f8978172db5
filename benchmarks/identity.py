"""Print how fast synthetic identities generate (target: 100,000 patients well under 2 s)."""

from __future__ import annotations

import sys
import time

import numpy as np

from dari.synth.identity import HOSPITAL_REGION_WEIGHTS, generate_identities


def main(n: int = 100_000) -> None:
    """Generate n identities per reference hospital and print the rate."""
    rng = np.random.default_rng(20240501)
    birth = np.datetime64("1925-01-01") + rng.integers(0, 36_500, n).astype("timedelta64[D]")
    sex = np.where(rng.random(n) < 0.5, "M", "F")
    generate_identities(10, rng, region_weights={"서울": 1.0}, birth_dates=birth[:10], sex=sex[:10],
                        hospital_code="warmup")  # fmt: skip
    for site, weights in HOSPITAL_REGION_WEIGHTS.items():
        start = time.perf_counter()
        table = generate_identities(n, rng, region_weights=weights, birth_dates=birth, sex=sex, hospital_code=site)
        took = time.perf_counter() - start
        print(f"{site}: {table.num_rows:,} identities in {took:.3f} s ({table.num_rows / took:,.0f}/s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
