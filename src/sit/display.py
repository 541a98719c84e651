"""How notebooks show tables: whole cells, long text wrapped, line breaks kept.

pandas cuts every cell at 50 characters by default, which hides the end of a rejection reason or the
end-of-turn token a table is there to show. The text the phases' tables hold is already clipped to a
readable length where they build it, so the display shows it whole and wraps it instead of widening the
table. The wrapping style travels inside each table's own HTML: Colab renders every output in a frame of
its own, so one stylesheet for the page would not reach the others.
"""

from __future__ import annotations

WRAPPED_CELL = {"white-space": "pre-wrap", "text-align": "left", "vertical-align": "top", "max-width": "42em"}


def configure_tables() -> None:
    """Show every cell whole; in a notebook kernel, also render DataFrames with wrapped text cells."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)


def quiet_text_progress_fallback() -> None:
    """Progress bars fall back to text where a kernel cannot draw widgets (papermill, nbval); tqdm then warns
    "IProgress not found" in every executed notebook. Colab draws widgets, so the warning tells its users
    nothing either."""
    import warnings

    from tqdm import TqdmWarning

    warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)


def table_html(frame) -> str:
    """A DataFrame as HTML whose text columns wrap. A frame longer than pandas' ``display.max_rows``, or with
    repeated labels, keeps pandas' own rendering."""
    import pandas as pd

    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    plain = not text_columns or len(frame) > pd.get_option("display.max_rows")
    if plain or not (frame.index.is_unique and frame.columns.is_unique):  # a Styler needs unique labels
        return frame._repr_html_()
    return frame.style.set_properties(subset=text_columns, **WRAPPED_CELL).format(precision=4, escape="html").to_html()
