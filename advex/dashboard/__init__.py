"""UI helpers for the Streamlit dashboard (``streamlit run app.py``).

Pages in ``pages/`` stay thin (widgets and layout); what they compute lives here or in
the rest of advex: cached loaders shared by every session (:mod:`.cache`), the training
job queue (:mod:`.jobs`), URL state (:mod:`.url_state`), downloads (:mod:`.downloads`),
plotly styling (:mod:`.plots`), presentation mode (:mod:`.presentation`) and safe error
display (:mod:`.safe`).
"""
