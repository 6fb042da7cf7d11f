"""Train a model: natural, l1 or adversarial, with live curves; it joins the other views when done."""

import streamlit as st

from advex.dashboard import training, url_state
from advex.dashboard.downloads import show_figure, table_download
from advex.dashboard.layout import how_to_get, page_setup
from advex.dashboard.plots import curves, style
from advex.dashboard.safe import safe_section
from advex.data.paths import available_datasets
from advex.device import describe_device

presenting = page_setup("Train a model")
st.title("Train a model")
st.markdown(
    "Train the paper's network (Appendix J.1) naturally, with l1 regularization, or adversarially with PGD. "
    f"Jobs run one at a time on this server's **{describe_device()}**; the result is saved in your model folder "
    "and appears in *Saliency maps*, *Trade-offs* and *Stability* at once."
)
queue = training.server_queue()
owner = training.session_owner()

with safe_section("New training job"):
    present = available_datasets()
    datasets = [name for name in training.IMAGE_DATASETS if present.get(name)]
    if not datasets:
        st.error("No image data set is available on this server. To get MNIST: " + how_to_get("mnist") + ".")
    else:
        url_state.check_choice("train_data", datasets)
        url_state.check_choice("mode", training.MODES)
        url_state.check_float("train_eps", 0.0, 1.0)
        top = st.columns(3)
        dataset = top[0].selectbox("Data set", datasets, key="train_data", bind=url_state.BIND)
        mode = top[1].radio("Mode", training.MODES, horizontal=True, key="mode", bind=url_state.BIND,
                            help="natural; l1: natural plus lambda times the l1 norm of all weights; "
                                 "adv: l_inf(eps) PGD adversarial training")
        protocol = top[2].radio("Protocol", training.PROTOCOLS, horizontal=True, key="protocol", bind=url_state.BIND,
                                help="fast: larger batches, fewer steps, eps ramp-up; paper: exactly Appendix J.1")
        url_state.check_int("steps", 0, training.MAX_STEPS)
        row = st.columns(3)
        eps = row[0].number_input("eps (pixels in [0, 1])", 0.0, 1.0, 0.3 if dataset == "mnist" else 0.1, 0.01,
                                  key="train_eps", bind=url_state.BIND, disabled=mode != "adv")
        lam = row[1].number_input("lambda", 0.0, 10.0, 0.01, 0.001, format="%.4f", key="train_lam", disabled=mode != "l1")
        steps = row[2].number_input("steps (0: the protocol's)", 0, training.MAX_STEPS, 300, 100, key="steps",
                                    help="A few hundred steps give a usable model in minutes on a CPU.")
        if st.button("Start training", type="primary", icon=":material/play_arrow:"):
            settings = {"dataset": dataset, "mode": mode, "eps": float(eps), "lam": float(lam),
                        "protocol": protocol, "steps": int(steps) or None, "seed": 0}
            training.check_settings(**{k: settings[k] for k in ("dataset", "mode", "eps", "lam", "protocol", "steps")})
            queue.submit(owner, settings)
            st.rerun()


polling = any(job.active for job in queue.jobs(owner))


@st.fragment(run_every=1.0 if polling else None)
def job_status() -> None:
    """Your newest job: progress, curves, stop button (refreshes every second while it runs)."""
    with safe_section("Your job"):
        show_job()


def show_job() -> None:
    mine = queue.jobs(owner)
    if not mine:
        st.caption("No training job of yours yet.")
        return
    job = mine[0]
    if polling and not job.active:
        st.rerun(scope="app")  # finished: redraw the page once and stop polling
    s = job.settings
    st.subheader(f"Job {job.id}: {s['dataset']} {s['mode']} ({s['protocol']}), {job.status}")
    if job.status == "queued":
        st.info(f"Waiting: number {queue.position(job)} in the queue.")
    st.progress(job.progress, text=job.message)
    if job.active and st.button("Stop", icon=":material/stop:", key=f"stop-{job.id}"):
        queue.stop(job.id, owner)
    if job.error:
        st.error(job.error)
    if job.result:
        st.success(f"Saved as **{job.result['name']}**: clean accuracy {job.result.get('clean_accuracy', 0):.2%}. "
                   "It is listed in the other views now.")
        st.page_link("pages/2_Saliency_maps.py", label="See its saliency maps", icon=":material/image:",
                     query_params={"images": s["dataset"]})
    if job.log:
        frame = training.log_frame(job)
        left, right = st.columns(2)
        with left:
            show_figure(style(curves(frame, "step", ["loss"], "Training loss", "cross-entropy"), presenting, 320),
                        f"job{job.id}_loss", key=f"loss-{job.id}")
        with right:
            show_figure(style(curves(frame, "step", ["accuracy"], "Training accuracy (batch)", "accuracy"),
                              presenting, 320), f"job{job.id}_accuracy", key=f"acc-{job.id}")
        table_download(frame, f"job{job.id}_curves", key=f"curves-{job.id}")


job_status()

with safe_section("Queue"):
    everyone = queue.jobs()
    if everyone:
        st.subheader("All jobs on this server")
        st.dataframe([{"job": j.id, "data set": j.settings["dataset"], "mode": j.settings["mode"],
                       "status": j.status, "progress": j.progress} for j in everyone], hide_index=True,
                     column_config={"progress": st.column_config.ProgressColumn(min_value=0, max_value=1)})
