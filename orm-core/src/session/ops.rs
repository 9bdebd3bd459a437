//! [`ModelOps`]: type-erased entry points into the session for one model.
//!
//! Each `TableDef` carries one (emitted by the derive as
//! `ModelOps::of::<Model>()`), so code that only knows a table (relationship
//! loading, cascades) can still load rows of that model through its typed
//! identity map.

use std::rc::Rc;

use super::obj::ErasedObj;
use super::state::{SessionInner, SessionState};
use crate::backend::Row;
use crate::error::Result;
use crate::model::Model;
use crate::types::{Value, ValueRef};

/// Receives each loaded object, with the values of the row's trailing extra
/// columns. It runs while the session's state is borrowed.
pub(crate) type Sink<'a> = &'a mut dyn FnMut(Rc<dyn ErasedObj>, &[Value]) -> Result<()>;

pub(crate) type LoadFn = fn(&SessionInner, &str, &[Value], usize, Sink<'_>) -> Result<()>;
pub(crate) type AdoptFn =
    fn(&SessionInner, &mut SessionState, &Row<'_>, usize) -> Result<Option<Rc<dyn ErasedObj>>>;

pub(crate) type LookupFn = fn(&mut SessionState, &[Value]) -> Option<Rc<dyn ErasedObj>>;

/// Erased operations of one model. Built by generated code; not for users.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct ModelOps {
    /// Run a SELECT of the model's columns (then `extra` more columns),
    /// adopt every row through the identity map and hand it to a sink.
    pub(crate) load: LoadFn,
    /// Adopt the model's columns of one row at an offset; `None` when the
    /// key columns are NULL (no row on that side of an outer join).
    pub(crate) adopt: AdoptFn,
    /// The object with this primary key in the identity map, if any.
    pub(crate) lookup: LookupFn,
    /// The model has `#[orm(hooks)]`.
    pub(crate) hooks: bool,
    /// Some field of the model has `#[orm(validate = ...)]`.
    pub(crate) validates: bool,
}

impl ModelOps {
    /// The operations of model `M`.
    pub const fn of<M: Model>() -> ModelOps {
        ModelOps {
            load: load_erased::<M>,
            adopt: adopt_erased::<M>,
            lookup: lookup_erased::<M>,
            hooks: M::__HOOKS.is_some(),
            validates: M::__VALIDATES,
        }
    }
}

impl std::fmt::Debug for ModelOps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelOps")
    }
}

fn load_erased<M: Model>(
    session: &SessionInner,
    sql: &str,
    params: &[Value],
    extra: usize,
    sink: Sink<'_>,
) -> Result<()> {
    crate::types::check_params(params)?;
    let width = M::table().columns.len();
    session.with_conn_for::<M, _>(|conn| {
        let mut stmt = conn.prepare_bound(sql, params, session.observer())?;
        let mut state = session.state_mut()?;
        let SessionState { maps, txn, .. } = &mut *state;
        let map = maps.of::<M>();
        let mut extras = Vec::with_capacity(extra);
        stmt.query(|row| {
            let obj = session.adopt_row(map, txn, row, 0)?;
            extras.clear();
            for i in 0..extra {
                extras.push(row.get(width + i)?.to_owned());
            }
            sink(obj.erased(), &extras)
        })
    })
}

fn adopt_erased<M: Model>(
    session: &SessionInner,
    state: &mut SessionState,
    row: &Row<'_>,
    offset: usize,
) -> Result<Option<Rc<dyn ErasedObj>>> {
    for &i in M::table().primary_key {
        if row.get(offset + i)? == ValueRef::Null {
            return Ok(None);
        }
    }
    let SessionState { maps, txn, .. } = state;
    let obj = session.adopt_row(maps.of::<M>(), txn, row, offset)?;
    Ok(Some(obj.erased()))
}

fn lookup_erased<M: Model>(state: &mut SessionState, key: &[Value]) -> Option<Rc<dyn ErasedObj>> {
    let key = <M::Key as crate::model::PrimaryKey>::__from_values(key)?;
    state.maps.get::<M>()?.get(&key).map(super::Obj::erased)
}
