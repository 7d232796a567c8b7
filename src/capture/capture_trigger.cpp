// The capture trigger function, pgtrickle._capture(buffer) (see capture.hpp, "Capture").
//
// Every capture trigger of a tracked table (and the member triggers on the partitions of a tracked
// partitioned table) runs this one C function with the qualified name of the table's change buffer
// as its argument. It appends the changes of the firing statement to the buffer directly through
// the table access method: the transition table rows in batches (table_multi_insert, as COPY
// does), one row per row event in replica sessions, a TRUNCATE marker for TRUNCATE. There is no
// SQL statement to plan or execute per firing: a PL/pgSQL function doing INSERT ... SELECT from the
// transition tables cost 1.3-1.9x the user's write (docs/benchmarks.md, "Change capture").
//
// Buffer columns are matched to the firing relation's columns by name (a partition may have other
// attnums than its root); the buffer's first two columns are the writer's top-level xid (xid8) and
// the action. Change buffers have no indexes, triggers or constraints besides NOT NULL on those
// two, which are always set here: a buffer with an index is refused rather than written without
// the index entries. The rows are written with the current command id, so a later command of the
// same transaction (a refresh) sees them, and the frontier's own-command test
// (capture::PendingPredicate) orders them with the statement that made them.
//
// Who may fire it: EXECUTE is revoked from PUBLIC, and CREATE TRIGGER checks EXECUTE on the
// function, so only the extension owner's internal DDL attaches it; PostgreSQL does not check
// EXECUTE when a trigger fires, so every writer of a tracked table runs it. It writes nothing but
// the buffer named by its trigger's argument, after checking the buffer's shape.
#include "bridge/guard.hpp"
#include "core/error.hpp"

extern "C" {
#include "postgres.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
#include "utils/regproc.h"
#include "utils/xid8.h"
}

namespace {

// Rows per table_multi_insert call (COPY uses up to 1,000 as well).
constexpr int kBatchRows = 1000;

struct Writer {
	Relation buffer;
	TupleDesc desc;        // the buffer's
	AttrNumber *source_of; // per buffer attribute: the firing relation's attnum, 0 for none
	Datum xid;
	CommandId cid;
	MemoryContext batch_context; // the formed tuples of the pending batch
	TupleTableSlot **slots;      // room for kBatchRows, `created` of them made
	int created;
	int pending;
	Datum *values;
	bool *nulls;
};

// Opens the buffer named `name` (RowExclusiveLock, until the end of the transaction, as an INSERT
// would) and checks that it is a change buffer: a plain table without indexes whose first columns
// are (xid8, "char"). Looked up without privilege checks: the writer has none on the buffer
// schema, and needs none (the buffer is written here, not through SQL).
Relation OpenBuffer(const char *name) {
	char *schema = nullptr;
	char *relname = nullptr;
	DeconstructQualifiedName(stringToQualifiedNameList(name), &schema, &relname);
	Oid relid = schema == nullptr ? InvalidOid
	                              : get_relname_relid(relname, get_namespace_oid(schema, false));
	if (!OidIsValid(relid)) {
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
		                errmsg("change buffer \"%s\" does not exist", name)));
	}
	Relation buffer = table_open(relid, RowExclusiveLock);
	TupleDesc desc = RelationGetDescr(buffer);
	if (buffer->rd_rel->relkind != RELKIND_RELATION || buffer->rd_rel->relhasindex ||
	    buffer->trigdesc != nullptr || desc->natts < 2 ||
	    TupleDescAttr(desc, 0)->atttypid != XID8OID ||
	    TupleDescAttr(desc, 1)->atttypid != CHAROID) {
		ereport(
		    ERROR,
		    (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		     errmsg("\"%s\" is not a pg_trickle change buffer", RelationGetRelationName(buffer)),
		     errdetail("A change buffer is a table without indexes or triggers whose first "
		               "columns are __pgt_xid xid8 and __pgt_action \"char\".")));
	}
	return buffer;
}

// For every data column of the buffer, the column of the firing relation with its name and type
// (a domain's base type); none for a marker (source nullptr).
void MapColumns(Writer *w, Relation source) {
	w->source_of = static_cast<AttrNumber *>(palloc0(sizeof(AttrNumber) * w->desc->natts));
	if (source == nullptr) {
		return; // a marker: every data column NULL
	}
	TupleDesc src = RelationGetDescr(source);
	for (int i = 2; i < w->desc->natts; i++) {
		Form_pg_attribute battr = TupleDescAttr(w->desc, i);
		if (battr->attisdropped) {
			continue;
		}
		const char *name = NameStr(battr->attname);
		for (int j = 0; j < src->natts; j++) {
			Form_pg_attribute sattr = TupleDescAttr(src, j);
			if (!sattr->attisdropped && strcmp(NameStr(sattr->attname), name) == 0) {
				if (sattr->atttypid != battr->atttypid &&
				    getBaseType(sattr->atttypid) != getBaseType(battr->atttypid)) {
					break;
				}
				w->source_of[i] = sattr->attnum;
				break;
			}
		}
		if (w->source_of[i] == 0) {
			ereport(ERROR,
			        (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			         errmsg("change buffer \"%s\" does not match relation \"%s\"",
			                RelationGetRelationName(w->buffer), RelationGetRelationName(source)),
			         errdetail("Buffer column \"%s\" has no column of that name and type.", name)));
		}
	}
}

void Flush(Writer *w) {
	if (w->pending == 0) {
		return;
	}
	table_multi_insert(w->buffer, w->slots, w->pending, w->cid, 0, nullptr);
	for (int i = 0; i < w->pending; i++) {
		ExecClearTuple(w->slots[i]);
	}
	w->pending = 0;
	MemoryContextReset(w->batch_context);
}

// Queues one buffer row: action, and the firing relation's row in `row` (nullptr: a marker, all
// data columns NULL).
void Append(Writer *w, char action, TupleTableSlot *row) {
	if (row != nullptr) {
		slot_getallattrs(row);
	}
	w->values[0] = w->xid;
	w->nulls[0] = false;
	w->values[1] = CharGetDatum(action);
	w->nulls[1] = false;
	for (int i = 2; i < w->desc->natts; i++) {
		AttrNumber from = w->source_of[i];
		if (row == nullptr || from == 0) {
			w->values[i] = (Datum)0;
			w->nulls[i] = true;
		} else {
			w->values[i] = row->tts_values[from - 1];
			w->nulls[i] = row->tts_isnull[from - 1];
		}
	}
	if (w->pending == w->created) {
		// Slots are made as rows come: most firings write a row or a few.
		w->slots[w->created++] = MakeSingleTupleTableSlot(w->desc, &TTSOpsHeapTuple);
	}
	MemoryContext old = MemoryContextSwitchTo(w->batch_context);
	HeapTuple tuple = heap_form_tuple(w->desc, w->values, w->nulls);
	MemoryContextSwitchTo(old);
	ExecStoreHeapTuple(tuple, w->slots[w->pending], false);
	if (++w->pending == kBatchRows) {
		Flush(w);
	}
}

// Appends every row of a transition table.
void AppendAll(Writer *w, char action, Tuplestorestate *rows, Relation source) {
	if (rows == nullptr) {
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
		                errmsg("capture trigger on \"%s\" has no transition table",
		                       RelationGetRelationName(source))));
	}
	TupleTableSlot *row = MakeSingleTupleTableSlot(RelationGetDescr(source), &TTSOpsMinimalTuple);
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, row)) {
		Append(w, action, row);
	}
	ExecDropSingleTupleTableSlot(row);
}

void Capture(TriggerData *td) {
	Trigger *trigger = td->tg_trigger;
	Relation source = td->tg_relation;
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || trigger->tgnargs != 1) {
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
		                errmsg("pgtrickle._capture() must be an AFTER trigger with one argument, "
		                       "its change buffer")));
	}
	Writer w{};
	w.buffer = OpenBuffer(trigger->tgargs[0]);
	w.desc = RelationGetDescr(w.buffer);
	w.xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	w.cid = GetCurrentCommandId(true);
	w.values = static_cast<Datum *>(palloc(sizeof(Datum) * w.desc->natts));
	w.nulls = static_cast<bool *>(palloc(sizeof(bool) * w.desc->natts));
	w.batch_context =
	    AllocSetContextCreate(CurrentMemoryContext, "pg_trickle capture", ALLOCSET_DEFAULT_SIZES);
	bool row_level = TRIGGER_FIRED_FOR_ROW(td->tg_event);
	bool truncate = TRIGGER_FIRED_BY_TRUNCATE(td->tg_event);
	w.slots = static_cast<TupleTableSlot **>(palloc(sizeof(TupleTableSlot *) * kBatchRows));
	MapColumns(&w, truncate ? nullptr : source);

	if (truncate) {
		Append(&w, 'T', nullptr);
	} else if (row_level) {
		// Replica sessions (logical replication apply): one event per row.
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event)) {
			Append(&w, 'D', td->tg_trigslot);
		}
		if (TRIGGER_FIRED_BY_INSERT(td->tg_event)) {
			Append(&w, 'I', td->tg_trigslot);
		} else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event)) {
			Append(&w, 'I', td->tg_newslot);
		}
	} else if (TRIGGER_FIRED_BY_INSERT(td->tg_event)) {
		AppendAll(&w, 'I', td->tg_newtable, source);
	} else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event)) {
		AppendAll(&w, 'D', td->tg_oldtable, source);
		AppendAll(&w, 'I', td->tg_newtable, source);
	} else if (TRIGGER_FIRED_BY_DELETE(td->tg_event)) {
		AppendAll(&w, 'D', td->tg_oldtable, source);
	}
	Flush(&w);

	for (int i = 0; i < w.created; i++) {
		ExecDropSingleTupleTableSlot(w.slots[i]);
	}
	MemoryContextDelete(w.batch_context);
	table_close(w.buffer, NoLock);
}

} // namespace

PGT_FUNCTION(pgtrickle_capture) {
	using namespace pgtrickle;
	if (!CALLED_AS_TRIGGER(fcinfo)) {
		throw core::Error("39P01", "pgtrickle._capture() must be called as a trigger");
	}
	TriggerData *td = reinterpret_cast<TriggerData *>(fcinfo->context);
	bridge::PgCall([&] { Capture(td); });
	return PointerGetDatum(nullptr);
}
