"""GUI responsiveness while the Train widget trains: event-loop stalls, time to first preview.

A QTimer on the GUI thread fires every 10 ms; the gap between two firings beyond those 10 ms is a
stall (time the event loop could not run: the viewer would not repaint or react). The benchmark
measures the stalls while idle (reference) and while the Train widget fine-tunes a small U-Net on
a generated 512×512 brightfield image with threshold pseudo-masks, once with one CPU core left to
the GUI thread (the widget's default) and once with torch using every core. It also times how long
after Start the first preview of the displayed frame arrives in the ``"<image> prediction"`` layer.

Every run is made twice: on the machine as it is, and on a busy machine, where the benchmark
starts one CPU-bound process per core (a numpy matrix-product loop, one BLAS thread each) for the
duration of the runs; the processes end by themselves after ``--timeout`` seconds per run at the
latest and are terminated when the runs end.

Run under a display, e.g. ``xvfb-run -a python benchmarks/bench_responsiveness.py``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import command_line, report


class StallProbe:
    """Record the firing times of a 10 ms QTimer on the GUI thread."""

    def __init__(self, interval_ms: int = 10) -> None:
        from qtpy.QtCore import Qt, QTimer

        self.interval = interval_ms / 1000.0
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def start(self) -> None:
        self.times = [time.perf_counter()]
        self.timer.start()

    def stop(self, after: float | None = None) -> dict:
        """Stall statistics, counting only gaps that begin at or after ``after`` when given."""
        self.timer.stop()
        times = np.asarray(self.times)
        gaps = np.diff(times)
        if after is not None:
            gaps = gaps[times[:-1] >= after]
        stalls = np.clip(gaps - self.interval, 0, None) * 1000.0
        if stalls.size == 0:
            return {"median_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
        return {
            "median_ms": round(float(np.median(stalls)), 2),
            "p99_ms": round(float(np.percentile(stalls, 99)), 2),
            "max_ms": round(float(stalls.max()), 2),
            "over_100ms": int((stalls > 100).sum()),
            "ticks": int(stalls.size),
        }


_LOAD_CODE = """
import sys, time
import numpy as np
end = time.time() + float(sys.argv[1])
x = np.random.default_rng(0).random((256, 256))
while time.time() < end:
    x = x @ x
    x /= np.abs(x).max()
"""


class CpuLoad:
    """One CPU-bound process per core, for at most ``seconds``; terminated on exit.

    Parameters
    ----------
    seconds : float
        Each process stops by itself after this long even if the benchmark dies.
    processes : int, optional
        How many (default: ``os.cpu_count()``).
    """

    def __init__(self, seconds: float, processes: int | None = None) -> None:
        self.seconds = seconds
        self.n = processes or os.cpu_count() or 1
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> CpuLoad:
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        cmd = [sys.executable, "-c", _LOAD_CODE, str(self.seconds)]
        self.procs = [
            subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL) for _ in range(self.n)
        ]
        time.sleep(1.0)  # let them start (imports) before measuring
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


def wait(app, condition, timeout: float) -> bool:
    """Run the event loop until ``condition()`` or ``timeout`` seconds."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.002)
    return False


def run_training(viewer, app, widget, limit_threads: bool, timeout: float) -> dict:
    """Train once with the widget and measure stalls and the time to the first preview layer."""
    for name in [ly.name for ly in viewer.layers if "prediction" in ly.name]:
        viewer.layers.remove(name)
    widget.limit_threads = limit_threads
    probe = StallProbe()
    probe.start()
    t0 = time.perf_counter()
    widget.start()
    t_started = time.perf_counter()
    first = {}

    def check() -> bool:
        if "t" not in first and widget.last_preview_step > 0:
            first["t"] = time.perf_counter()
        return not widget.controls.running

    finished = wait(app, check, timeout)
    seconds = time.perf_counter() - t0
    all_stalls = probe.stop()
    stalls = {**probe.stop(after=t_started)}
    if not finished:
        widget.controls.stop()
        wait(app, lambda: not widget.controls.running, 60)
    steps = widget.model.log[-1]["step"] if widget.model is not None and widget.model.log else 0
    n = os.cpu_count() or 1
    return {
        **stalls,
        "start_click_ms": round((t_started - t0) * 1000, 1),
        "max_ms_including_start_click": all_stalls["max_ms"],
        "first_prediction_s": round(first["t"] - t0, 2) if "t" in first else None,
        "total_s": round(seconds, 2),
        "steps": steps,
        "torch_threads": max(1, n - 1) if limit_threads else n,
        "finished": finished,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument(
        "--image",
        help="a real image instead of the generated one (its first plane of the first channel; "
        "the pseudo-masks are a threshold of the image itself)",
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--preview-every", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--tile-size", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per run at most")
    parser.add_argument(
        "--load",
        choices=["idle", "busy", "both"],
        default="both",
        help="measure on the machine as it is, with one CPU-bound process per core, or both",
    )
    args = parser.parse_args(argv)

    import napari

    from napari_selfsup_seg._napari.widgets.train import TrainWidget
    from napari_selfsup_seg.data._synthetic import make_sample
    from napari_selfsup_seg.pseudo._threshold import threshold_pseudo_mask

    if args.image:
        from napari_selfsup_seg.io._image import read_image

        stack = read_image(args.image)
        bf = stack.planes(None if stack.n_channels == 1 else [0])[0, 0]
        pseudo, _ = threshold_pseudo_mask(bf)
        what = f"{Path(args.image).name} ({bf.shape[0]}×{bf.shape[1]}, first plane)"
    else:
        sample = make_sample((args.size, args.size), seed=0)
        pseudo, _ = threshold_pseudo_mask(sample.fluorescence)
        bf = sample.brightfield
        what = f"a generated {args.size}×{args.size} brightfield image"
    viewer = napari.Viewer(show=True)
    app = napari.qt.get_qapp()
    viewer.add_image(bf, name="bf", metadata={"role": "brightfield"})
    viewer.add_labels(pseudo, name="bf pseudo")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget.depth.value = 3
    widget.steps.value = args.steps
    widget.tile_size.value = args.tile_size
    widget.batch_size.value = args.batch_size
    widget.device.value = "cpu"
    widget.preview_every.value = args.preview_every
    wait(app, lambda: False, 1.0)  # let the window settle

    # Warm-up (imports, first allocation) so that all measured runs start equal.
    widget.steps.value = 2
    run_training(viewer, app, widget, True, args.timeout)
    widget.steps.value = args.steps

    def runs() -> dict:
        probe = StallProbe()
        probe.start()
        wait(app, lambda: False, 2.0)
        out = {"reference": probe.stop()}
        out["leave_one_core"] = run_training(viewer, app, widget, True, args.timeout)
        widget.preview_every.value = 0
        out["leave_one_core_no_preview"] = run_training(viewer, app, widget, True, args.timeout)
        widget.preview_every.value = args.preview_every
        out["all_cores"] = run_training(viewer, app, widget, False, args.timeout)
        return out

    loads = {"idle": ["idle"], "busy": ["busy"], "both": ["idle", "busy"]}[args.load]
    measured = {}
    for load in loads:
        if load == "busy":
            with CpuLoad(4 * args.timeout) as cpu:
                measured[load] = {**runs(), "load_processes": cpu.n}
        else:
            measured[load] = runs()
    viewer.close()

    result = {
        "image": args.image or f"{args.size}x{args.size}",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "tile_size": args.tile_size,
        "preview_every": args.preview_every,
        **measured,
        "target_max_stall_ms": 100,
    }
    names = {
        "reference": "no training (reference)",
        "leave_one_core": "training, torch leaves one core to the GUI (default)",
        "leave_one_core_no_preview": "same, without previews",
        "all_cores": "training, torch uses every core",
    }
    lines = [
        "| machine | run | median stall | p99 stall | max stall | stalls > 100 ms | Start click | "
        "first prediction | total | torch threads (training) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for load, rows in measured.items():
        machine = (
            "no added load"
            if load == "idle"
            else f"busy (+{rows['load_processes']} CPU-bound processes)"
        )
        for key, name in names.items():
            st = rows[key]
            run = st if key != "reference" else None
            fp = f"{run['first_prediction_s']} s" if run and run["first_prediction_s"] else "-"
            click = f"{run['start_click_ms']} ms" if run else "-"
            total = f"{run['total_s']} s" if run else "-"
            thr = run["torch_threads"] if run else "-"
            lines.append(
                f"| {machine} | {name} | {st['median_ms']} ms | {st['p99_ms']} ms | "
                f"{st['max_ms']} ms | {st.get('over_100ms', 0)} | {click} | {fp} | {total} | "
                f"{thr} |"
            )
    md = (
        f"Train widget on {what} (threshold "
        f"pseudo-masks), small U-Net (3 stages), {args.steps} steps of {args.batch_size} tiles "
        f"of {args.tile_size} px on the CPU, a preview prediction of the whole image every "
        f"{args.preview_every} steps. A 10 ms QTimer probe on the GUI thread measures stalls "
        "(gap beyond 10 ms), counted from the moment the Start click returns; the click itself "
        "(copying the layers, building the job, creating the prediction layer) is listed "
        "separately. *First prediction* is the time from the click until the first preview "
        "of the displayed frame is in the prediction layer. *Busy*: one CPU-bound process per "
        "core (numpy matrix products) runs beside napari during those runs. "
        "Target: max stall ≤ 100 ms.\n\n" + "\n".join(lines)
    )
    if args.image:
        # The data set: its folder (scratch_assay/...), or the file for a loose one (nuclei2d).
        path = Path(args.image)
        stem = path.parent.name if path.parent.name != "data" else path.name.split("_")[0]
        report(
            f"responsiveness-{stem}",
            f"GUI responsiveness while training: {stem}",
            command_line(),
            md,
            result,
        )
    else:
        report("responsiveness", "GUI responsiveness while training", command_line(), md, result)
    return result


if __name__ == "__main__":
    main()
