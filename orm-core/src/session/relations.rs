//! Per-object relationship state: loaded collections and references, and
//! assignments made through relationship handles that the flush must turn
//! into foreign key values.

use std::rc::Rc;

use super::obj::ErasedObj;
use crate::schema::RelationDef;

/// What one end of a relationship holds for one object.
#[allow(dead_code)] // filled by relationship loading (wired in next)
pub(crate) enum RelValue {
    Many(Vec<Rc<dyn ErasedObj>>),
    One(Option<Rc<dyn ErasedObj>>),
}

#[allow(dead_code)] // filled by relationship loading (wired in next)
pub(crate) struct RelSlot {
    pub def: &'static RelationDef,
    /// True for the declaring end, false for the backref end.
    pub declared: bool,
    pub value: RelValue,
    /// For a reference: set through the relationship since the last flush,
    /// so the flush writes the foreign key from the referenced object.
    pub assigned: bool,
}

/// The relationship slots of one object (usually none or a few).
#[derive(Default)]
pub(crate) struct RelSlots {
    pub slots: Vec<RelSlot>,
}

impl RelSlots {
    pub fn clear(&mut self) {
        self.slots.clear();
    }
}

impl RelSlots {
    /// After a flush, assignments have become foreign key values.
    pub fn flushed(&mut self) {
        for slot in &mut self.slots {
            slot.assigned = false;
        }
    }
}

use super::flush::Row;
use super::{SessionInner, SessionState};
use crate::error::Result;

impl SessionInner {
    /// Foreign key fills and association rows implied by relationship
    /// assignments.
    pub(crate) fn organize_relationships(
        &self,
        _state: &mut SessionState,
        _rows: &mut Vec<Row>,
    ) -> Result<()> {
        Ok(())
    }

    /// Objects reachable from a newly added one join the session too
    /// (the `save-update` cascade).
    pub(crate) fn cascade_add(&self, obj: &Rc<dyn ErasedObj>) -> Result<()> {
        let related: Vec<Rc<dyn ErasedObj>> = obj
            .rels()
            .borrow()
            .slots
            .iter()
            .flat_map(|s| match &s.value {
                RelValue::Many(v) => v.clone(),
                RelValue::One(o) => o.iter().cloned().collect(),
            })
            .collect();
        for r in related {
            if r.status() == super::obj::Status::Transient {
                self.adopt_transient(&r)?;
                self.cascade_add(&r)?;
            }
        }
        Ok(())
    }

    /// Deleting a parent: cascades and nulling of children's keys.
    pub(crate) fn cascade_delete(&self, _obj: &Rc<dyn ErasedObj>) -> Result<()> {
        Ok(())
    }

    /// A discarded pending object leaves every loaded relationship.
    pub(crate) fn unlink_everywhere(&self, _obj: &Rc<dyn ErasedObj>) -> Result<()> {
        Ok(())
    }
}
