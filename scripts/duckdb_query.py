#!/usr/bin/env python3
"""The recomputation baseline of `rapport bench query`.

Loads the NPS responses `rapport bench query` exported (CSV files of
`time_ms,segment,region,plan,score`) into a DuckDB table, then computes the same
windowed, grouped NPS rapport answers: percent promoters (9, 10) minus
percent detractors (0..6) over [start, end), per group. The load is timed
apart; the query runs once to warm up, then --runs times, and the median is
reported. Prints one JSON object on stdout.

Usage: duckdb_query.py --csv 'DIR/*.csv' --start-ms MS --end-ms MS
                       [--group-by segment] [--runs 7]
"""

import argparse
import json
import statistics
import time

import duckdb

# The columns the bench exports, in order. Only `segment` can be grouped by.
COLUMNS = {
    "time_ms": "BIGINT",
    "segment": "VARCHAR",
    "region": "VARCHAR",
    "plan": "VARCHAR",
    "score": "INTEGER",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, help="CSV file or glob")
    parser.add_argument("--start-ms", type=int, required=True)
    parser.add_argument("--end-ms", type=int, required=True)
    parser.add_argument("--group-by", choices=["segment"], default=None)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    con = duckdb.connect()  # in memory, all cores
    started = time.perf_counter()
    con.execute(
        "CREATE TABLE events AS SELECT * FROM read_csv(?, header = false, columns = ?,"
        " delim = ',', quote = '', escape = '', auto_detect = false)",
        [args.csv, COLUMNS],
    )
    load_seconds = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM events").fetchone()[0]

    group = args.group_by or "''"
    sql = f"""
        SELECT {group} AS grp,
               count(*) AS n,
               100.0 * (count(*) FILTER (WHERE score >= 9)
                        - count(*) FILTER (WHERE score <= 6)) / count(*) AS nps
        FROM events
        WHERE time_ms >= $start AND time_ms < $end
        GROUP BY grp
        ORDER BY grp
    """
    params = {"start": args.start_ms, "end": args.end_ms}
    con.execute(sql, params).fetchall()  # warm-up
    runs_ms = []
    answer = []
    for _ in range(max(args.runs, 1)):
        started = time.perf_counter()
        answer = con.execute(sql, params).fetchall()
        runs_ms.append((time.perf_counter() - started) * 1000.0)

    print(json.dumps({
        "duckdb_version": duckdb.__version__,
        "rows": rows,
        "load_seconds": load_seconds,
        "query_ms_runs": runs_ms,
        "query_ms_median": statistics.median(runs_ms),
        "groups": [{"group": g, "count": n, "nps": nps} for g, n, nps in answer],
    }))


if __name__ == "__main__":
    main()
