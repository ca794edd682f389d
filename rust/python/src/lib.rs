//! `toksmith._core`: PyO3 bindings over `toksmith_engine`. (Stub: the Python helper fills this in.)

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
