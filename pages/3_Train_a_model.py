"""Train a model: natural, l1 or adversarial, with live curves and a live IG map; it joins the other views when done."""

import streamlit as st

from advex.dashboard import training, url_state
from advex.dashboard.downloads import show_figure, table_download
from advex.dashboard.layout import how_to_get, page_setup
from advex.dashboard.safe import safe_section
from advex.data.paths import available_datasets
from advex.device import describe_device
from advex.training.image import PROTOCOLS
from advex.vocabulary import IMAGE_DATASETS, MODES

presenting = page_setup("Train a model")
st.title("Train a model")
default_protocol = training.default_protocol()
st.markdown(
    "Train the paper's network (Appendix J.1) naturally, with l1 regularization, or adversarially. "
    f"Jobs run one at a time on this server's **{describe_device()}**; the result is saved in your model folder "
    "and appears in *Saliency maps*, *Trade-offs* and *Stability* at once."
)
st.markdown(
    "**Watch it learn.** With the *live* protocol the model is trained with a single-step attack (N-FGSM) instead "
    "of PGD, so adversarial training fits a seminar on a laptop CPU; every few steps a fixed test image is "
    "explained (IG) and its map redrawn beside the curves: as the accuracy under attack grows, the map becomes "
    "sparse (a higher Gini index), the paper's claim happening in front of the class. A guard watches for "
    "*catastrophic overfitting* (robustness collapsing under a multi-step attack) and rolls back to the best weights. "
    + ("On this GPU the default is the *fast* protocol (PGD-10 training, about a minute for MNIST)."
       if default_protocol == "fast" else
       "On a GPU the page defaults to the *fast* protocol (PGD-10 training, about a minute for MNIST); "
       "this server has no GPU, so it defaults to *live*.")
)
queue = training.server_queue()
owner = training.session_owner()

with safe_section("New training job"):
    present = available_datasets()
    datasets = [name for name in IMAGE_DATASETS if present.get(name)]
    if not datasets:
        st.error("No image data set is available on this server. To get MNIST: " + how_to_get("mnist") + ".")
    else:
        url_state.check_choice("train_data", datasets)
        url_state.check_choice("mode", MODES)
        url_state.check_choice("protocol", PROTOCOLS)
        url_state.check_float("train_eps", 0.0, 1.0)
        top = st.columns(3)
        dataset = top[0].selectbox("Data set", datasets, key="train_data", bind=url_state.BIND)
        mode = top[1].radio("Mode", MODES, index=MODES.index("adv"), horizontal=True, key="mode",
                            bind=url_state.BIND,
                            help="natural; l1: natural plus lambda times the l1 norm of all weights; "
                                 "adv: l_inf(eps) adversarial training")
        protocol = top[2].radio("Protocol", PROTOCOLS, index=PROTOCOLS.index(default_protocol),
                                horizontal=True, key="protocol", bind=url_state.BIND,
                                help="live: single-step N-FGSM training with a live IG map (CPU); "
                                     "fast: PGD-10 training, larger batches (GPU); paper: exactly Appendix J.1")
        url_state.check_int("steps", 0, training.MAX_STEPS)
        row = st.columns(3)
        eps = row[0].number_input("eps (pixels in [0, 1])", 0.0, 1.0, 0.3 if dataset == "mnist" else 0.1, 0.01,
                                  key="train_eps", bind=url_state.BIND, disabled=mode != "adv")
        lam = row[1].number_input("lambda", 0.0, 10.0, 0.01, 0.001, format="%.4f", key="train_lam", disabled=mode != "l1")
        steps = row[2].number_input("steps (0: the protocol's)", 0, training.MAX_STEPS, 0, 100, key="steps",
                                    bind=url_state.BIND,
                                    help="Fewer steps give a less robust model sooner; the estimate below follows.")
        with st.spinner("Timing a few training steps on this server (once per setting)..."):
            st.markdown(training.estimate_text(dataset, mode, float(eps), protocol, int(steps) or None))
        if st.button("Start training", type="primary", icon=":material/play_arrow:"):
            settings = {"dataset": dataset, "mode": mode, "eps": float(eps), "lam": float(lam),
                        "protocol": protocol, "steps": int(steps) or None, "seed": 0}
            training.check_settings(**{k: settings[k] for k in ("dataset", "mode", "eps", "lam", "protocol", "steps")})
            queue.submit(owner, settings)
            st.rerun()


polling = any(job.active for job in queue.jobs(owner))


@st.fragment(run_every=1.0 if polling else None)
def job_status() -> None:
    """Your newest job: progress, stop button, the live IG map and the curves (this part alone reruns every second)."""
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
    if job.active and st.button("Stop", icon=":material/stop:", key=f"stop-{job.id}",
                                help="Stops after the current step; the model so far is evaluated and saved."):
        queue.stop(job.id, owner)
    if job.error:
        st.error(job.error)
    if job.result:
        st.success(f"Saved as **{job.result['name']}**{training.stop_note(job.result)}: clean accuracy "
                   f"{job.result.get('clean_accuracy', 0):.2%}. It is listed in the other views now.")
        st.page_link("pages/2_Saliency_maps.py", label="See its saliency maps", icon=":material/image:",
                     query_params={"images": s["dataset"]})
    picture = job.picture
    if not job.log and picture is None:
        return
    frame = training.log_frame(job)
    charts = training.curve_figures(frame, presenting)
    left, right = st.columns([2, 3]) if picture is not None else (None, st.container())
    if picture is not None:
        with left:
            st.plotly_chart(training.live_map_figure(picture, presenting), key=f"map-{job.id}")
            st.caption(f"IG map of a fixed test image at step {picture['step']}: mean Gini of the probe's images "
                       f"{picture['gini']:.3f}")
    with right:
        for name, figure in charts:
            show_figure(figure, f"job{job.id}_{name}", key=f"{name}-{job.id}")
    table_download(frame, f"job{job.id}_curves", key=f"curves-{job.id}")


job_status()

with safe_section("Queue"):
    everyone = queue.jobs()
    if everyone:
        st.subheader("All jobs on this server")
        st.dataframe([{"job": j.id, "data set": j.settings["dataset"], "mode": j.settings["mode"],
                       "protocol": j.settings["protocol"], "status": j.status, "progress": j.progress}
                      for j in everyone], hide_index=True,
                     column_config={"progress": st.column_config.ProgressColumn(min_value=0, max_value=1)})
