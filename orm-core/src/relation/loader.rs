//! Eager loading options attached to a query.

use crate::error::Result;
use crate::model::Model;
use crate::session::Obj;
use crate::session::SessionInner;

/// The relationships a query loads eagerly.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadPlan {}

impl LoadPlan {
    pub(crate) fn is_empty(&self) -> bool {
        true
    }

    /// Load the requested relationships of `objects`.
    pub(crate) fn run_after<M: Model>(
        &self,
        _session: &SessionInner,
        _objects: &[Obj<M>],
    ) -> Result<()> {
        Ok(())
    }
}
