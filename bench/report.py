"""The Markdown summary of a results dict (as written to ``bench/results/latest.json``)."""

from __future__ import annotations

DESCRIPTIONS = {
    "W1": "seed pipeline: MLP 20-64-32-3, 1,000 samples, batch 32, Adam, 10 epochs + validation",
    "W2": "MLP 784-256-128-10, 60,000 x 784, batch 128, Adam, 1 epoch",
    "W3": "CNN conv32-pool-conv64-pool-fc128-fc10, 10,000 x 1x28x28, batch 64, SGD+momentum, "
    "1 epoch",
}


def _f(x, fmt="{:.3f}"):
    return "—" if x is None else fmt.format(x)


def _met(flag):
    return "" if flag is None else (" ✓" if flag else " ✗")


def _workload_tables(res):
    wl = res["workloads"]
    lines = [
        (
            "| workload | nnrun (s) | PyTorch (s) | nnrun / PyTorch | target | raw NumPy (s) "
            "| ratio of the best runs | CPU s nnrun / PyTorch |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, w in wl.items():
        t = w["time_s"]
        ratio = w.get("ratio_time")
        lines.append(
            f"| {name} | {_f(t['nnrun'])} | {_f(t.get('torch'))} | "
            f"{_f(ratio, '{:.2f}')}{_met(w.get('met_time'))} | <= {w['target_ratio']} | "
            f"{_f(t.get('numpy'))} | {_f(w.get('ratio_time_best'), '{:.2f}')} | "
            f"{_f(w['cpu_s']['nnrun'], '{:.2f}')} / {_f(w['cpu_s'].get('torch'), '{:.2f}')} |"
        )
    lines += [
        "",
        (
            "| workload | nnrun peak RSS (MiB) | PyTorch peak RSS (MiB) | ratio (target <= 0.5) | "
            "RSS after imports nnrun / PyTorch (MiB) | of which the data set (MiB) |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, w in wl.items():
        p, b = w["rss_peak_mb"], w["rss_base_mb"]
        lines.append(
            f"| {name} | {_f(p['nnrun'], '{:.0f}')} | {_f(p.get('torch'), '{:.0f}')} | "
            f"{_f(w.get('ratio_rss'), '{:.2f}')}{_met(w.get('met_rss'))} | "
            f"{_f(b['nnrun'], '{:.0f}')} / {_f(b.get('torch'), '{:.0f}')} | "
            f"{_f(w.get('data_mb'), '{:.0f}')} |"
        )
    lines += [
        "",
        (
            "| workload | final loss nnrun | final loss reference | reference | first-step diff | "
            "max diff over the run | agree |"
        ),
        "| --- | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for name, w in wl.items():
        a = w.get("agreement")
        if a is None:
            continue
        fl = w["final_loss"]
        lines.append(
            f"| {name} | {fl['nnrun']:.6f} | {fl[a['reference']]:.6f} | {a['reference']} | "
            f"{a['first_loss_abs_diff']:.1e} | {a['max_abs_diff']:.1e} | "
            f"{'yes' if a['agree'] else 'NO'} |"
        )
    if "W2" in wl and "ratio_floor" in wl["W2"]:
        lines += [
            "",
            (
                f"W2 against the hand-written raw-NumPy floor: nnrun / NumPy = "
                f"{wl['W2']['ratio_floor']:.2f}."
            ),
        ]
    return lines


def _scaling_tables(res):
    sc = res.get("scaling")
    if not sc:
        return []
    libs = list(sc)
    peak = res["gemm"]["peak_gflops"]
    head = " | ".join(
        f"{lib} µs/sample (median / best step) | {lib} GEMM % of peak (best)" for lib in libs
    )
    lines = [
        "",
        (
            f"Scaling (time per sample; GEMM GFLOP/s of a train step as % of the "
            f"{peak:.0f} GFLOP/s float32 matmul peak):"
        ),
        "",
        f"| model | batch | {head} |",
        "| --- | ---: |" + " ---: | ---: |" * len(libs),
    ]
    for i, cfg in enumerate(sc[libs[0]]):
        model = (
            f"MLP 784-{cfg['hidden'][0]}-{cfg['hidden'][1]}-10"
            if cfg["kind"] == "mlp"
            else "CNN (W3)"
        )
        cells = " | ".join(
            f"{sc[lib][i]['us_per_sample']:.1f} / {sc[lib][i]['best_us_per_sample']:.1f} | "
            f"{100 * sc[lib][i]['best_gflops'] / peak:.0f}%"
            for lib in libs
        )
        lines.append(f"| {model} | {cfg['batch']} | {cells} |")
    return lines


def _startup_lines(res):
    st = res["startup"]
    lines = ["", "| start-up | seconds |", "| --- | ---: |"]
    for key, label in (
        ("nnrun_help", "`nnrun --help` (target < 0.3 s)"),
        ("import_nnrun", "`import nnrun.engine`"),
        ("import_torch", "`import torch`"),
        ("python_bare", "bare `python -c pass`"),
    ):
        item = st.get(key, {})
        val = (
            _f(item.get("s")) + _met(item.get("met"))
            if item.get("s") is not None
            else f"skipped ({item.get('skipped', 'n/a')})"
        )
        lines.append(f"| {label} | {val} |")
    e2e = res.get("train_e2e", {})
    e2e_val = (
        _f(e2e.get("s")) if e2e.get("s") is not None else f"skipped ({e2e.get('skipped', 'n/a')})"
    )
    lines.append(f"| `nnrun train configs/digits_mlp.yaml` end to end | {e2e_val} |")
    return lines


def markdown(res):
    m = res["machine"]
    blas = res["gemm"]["blas"]
    blas_s = (
        ", ".join(
            f"{b['internal_api']} {b['version']} {b['architecture']} {b['num_threads']} threads"
            for b in blas
        )
        if isinstance(blas, list)
        else "threadpoolctl not installed"
    )
    lines = [
        f"### Benchmarks (`{res['command']}`, {res['reps']} interleaved repetition(s), medians)",
        "",
        (
            f"Machine: {m['cpu']}, {m['cores_usable']} usable cores (worker threads: "
            f"{res.get('worker_threads', 'default')}); Python {m['python']}, "
            f"NumPy {m['numpy']}, PyTorch {m['torch'] or 'not installed'}; BLAS: {blas_s}; "
            f"float32 GEMM peak {res['gemm']['peak_gflops']:.0f} GFLOP/s; load average at start "
            f"{res['load_average_start']}, end {res['load_average_end']}."
        ),
        "",
    ]
    for name in res["workloads"]:
        lines.append(f"- {name}: {DESCRIPTIONS[name]}")
    lines.append("")
    lines += _workload_tables(res)
    lines += _scaling_tables(res)
    lines += _startup_lines(res)
    ob = res.get("openblas_unset", {})
    if "skipped" in ob:
        lines += ["", f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: {ob['skipped']}."]
    else:
        w2 = ob["workloads"]["W2"]["time_s"]
        unset_blas = ob["gemm"]["blas"]
        kernel = (
            ", ".join(str(b["architecture"]) for b in unset_blas)
            if isinstance(unset_blas, list)
            else "kernel unknown without threadpoolctl"
        )
        lines += [
            "",
            (
                f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set ({m['openblas_env']}); with "
                f"both unset: kernel {kernel}, GEMM peak {ob['gemm']['peak_gflops']:.0f} GFLOP/s, W2 nnrun "
                f"{_f(w2.get('nnrun'))} s, raw NumPy {_f(w2.get('numpy'))} s."
            ),
        ]
    return "\n".join(lines) + "\n"
