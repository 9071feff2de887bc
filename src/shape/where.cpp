// Shape where clauses: compiled for routing and evaluated by the executor (see where.hpp).
#include "shape/where_internal.hpp"
#include "shape/eval_watchdog.hpp"

namespace es {

using namespace where_detail;

// ---------------------------------------------------------------------------------------------

Oid where_role_oid() {
    Oid r = pg_guard([] { return get_role_oid(kWhereRole, true); });
    if (!OidIsValid(r))
        throw SqlError(ERRCODE_UNDEFINED_OBJECT, std::string("role ") + kWhereRole + " does not exist",
                       "It is created by CREATE EXTENSION electric_sync (and ALTER EXTENSION electric_sync UPDATE); "
                       "where clauses are evaluated as that role.");
    bool super = pg_guard([&] { return superuser_arg(r); });
    if (super)
        throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE, std::string("role ") + kWhereRole + " must not be a superuser",
                       std::string("Where clauses are evaluated as ") + kWhereRole + ": ALTER ROLE " + kWhereRole +
                           " NOSUPERUSER.");
    return r;
}

EvalRole::EvalRole(Oid role) {
    GetUserIdAndSecContext(&saved_uid_, &saved_sec_);
    SetUserIdAndSecContext(role, saved_sec_ | SECURITY_RESTRICTED_OPERATION | SECURITY_LOCAL_USERID_CHANGE);
}

EvalRole::~EvalRole() { SetUserIdAndSecContext(saved_uid_, saved_sec_); }

// ---------------------------------------------------------------------------------------------

void run_in_subtransaction(const std::function<void()> &f) {
    MemoryContext oldcxt = CurrentMemoryContext;
    ResourceOwner oldowner = CurrentResourceOwner;
    pg_guard([&] { BeginInternalSubTransaction(nullptr); });
    MemoryContextSwitchTo(oldcxt);
    try {
        f();
    } catch (...) {
        pg_guard([&] { RollbackAndReleaseCurrentSubTransaction(); });
        MemoryContextSwitchTo(oldcxt);
        CurrentResourceOwner = oldowner;
        throw;
    }
    pg_guard([&] { ReleaseCurrentSubTransaction(); });
    MemoryContextSwitchTo(oldcxt);
    CurrentResourceOwner = oldowner;
}

// ---------------------------------------------------------------------------------------------

std::unique_ptr<CompiledWhere> CompiledWhere::compile(Oid relid, const std::string &where_clause,
                                                      const std::vector<std::string> &params, bool keep_executor) {
    if (!IsTransactionState()) throw std::logic_error("CompiledWhere::compile needs a transaction");
    bool blank = is_blank(where_clause);
    if (blank && !params.empty())
        throw ShapeError("params", ERRCODE_INVALID_PARAMETER_VALUE,
                         "parameters were given but there is no where clause",
                         "Parameters ($1, $2, ...) can only be used in a where clause.");
    std::unique_ptr<CompiledWhere> cw(new CompiledWhere());
    cw->cxt_ =
        pg_guard([] { return AllocSetContextCreate(TopMemoryContext, "electric_sync where", ALLOCSET_SMALL_SIZES); });
    CompiledWhere *self = cw.get();
    const std::string empty;
    run_in_subtransaction([&] { self->build(relid, blank ? empty : where_clause, params); });
    if (cw->eq_exact_ && !keep_executor) {
        // `col = const` / `col IN (...)`: matched by comparing texts, so the executor state is
        // not kept (it is most of a shape's memory; bench/shape_memory.sh).
        MemoryContext c = cw->cxt_;
        cw->cxt_ = nullptr;
        cw->tupdesc_ = nullptr;
        cw->slot_ = nullptr;
        cw->econtext_ = nullptr;
        cw->qual_ = nullptr;
        cw->inputs_.clear();
        cw->inputs_.shrink_to_fit();
        pg_guard([&] { MemoryContextDelete(c); });
    }
    return cw;
}

// Types whose text output is equal exactly when the values are equal (under `=`).
static bool text_eq_is_value_eq(Oid t) {
    switch (t) {
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case OIDOID:
    case TEXTOID:
    case VARCHAROID:
    case UUIDOID:
    case BOOLOID: return true;
    default: return false;
    }
}

static Node *strip_relabel(Node *n) {
    while (n && IsA(n, RelabelType)) n = reinterpret_cast<Node *>(reinterpret_cast<RelabelType *>(n)->arg);
    return n;
}

static bool is_eq_operator(Oid opno) {
    char *name = get_opname(opno);
    return name && strcmp(name, "=") == 0;
}

// Equal texts mean equal values only under a deterministic collation (a case-insensitive ICU
// collation makes 'a' = 'A').
static bool deterministic(Oid collid) { return !OidIsValid(collid) || get_collation_isdeterministic(collid); }

static char *const_text(Const *c) {
    Oid out;
    bool varlena;
    getTypeOutputInfo(c->consttype, &out, &varlena);
    return OidOutputFunctionCall(out, c->constvalue);
}

// Finds an indexable equality (see eq_attnum()). Runs inside pg_guard.
void CompiledWhere::find_eq_key(Node *expr) {
    if (!expr) return;
    if (IsA(expr, BoolExpr) && reinterpret_cast<BoolExpr *>(expr)->boolop == AND_EXPR) {
        ListCell *lc;
        foreach (lc, reinterpret_cast<BoolExpr *>(expr)->args) {
            find_eq_key(static_cast<Node *>(lfirst(lc)));
            if (eq_attnum_) return;
        }
        return;
    }
    if (IsA(expr, OpExpr)) {
        OpExpr *op = reinterpret_cast<OpExpr *>(expr);
        if (list_length(op->args) != 2 || !is_eq_operator(op->opno) || !deterministic(op->inputcollid)) return;
        Node *a = strip_relabel(static_cast<Node *>(linitial(op->args)));
        Node *b = strip_relabel(static_cast<Node *>(lsecond(op->args)));
        if (IsA(b, Var)) std::swap(a, b);
        if (!IsA(a, Var) || !IsA(b, Const)) return;
        Var *v = reinterpret_cast<Var *>(a);
        Const *c = reinterpret_cast<Const *>(b);
        if (v->varattno <= 0 || c->constisnull || !text_eq_is_value_eq(v->vartype) ||
            !text_eq_is_value_eq(c->consttype))
            return;
        eq_values_.emplace_back(const_text(c));
        eq_attnum_ = v->varattno;
        return;
    }
    if (IsA(expr, ScalarArrayOpExpr)) {
        ScalarArrayOpExpr *op = reinterpret_cast<ScalarArrayOpExpr *>(expr);
        if (!op->useOr || list_length(op->args) != 2 || !is_eq_operator(op->opno) || !deterministic(op->inputcollid))
            return;
        Node *a = strip_relabel(static_cast<Node *>(linitial(op->args)));
        Node *b = strip_relabel(static_cast<Node *>(lsecond(op->args)));
        if (!IsA(a, Var) || !IsA(b, Const) || reinterpret_cast<Const *>(b)->constisnull) return;
        Var *v = reinterpret_cast<Var *>(a);
        Const *c = reinterpret_cast<Const *>(b);
        Oid elem = get_element_type(c->consttype);
        if (v->varattno <= 0 || !text_eq_is_value_eq(v->vartype) || !text_eq_is_value_eq(elem)) return;
        ArrayType *arr = DatumGetArrayTypeP(c->constvalue);
        int16 len;
        bool byval;
        char align;
        get_typlenbyvalalign(elem, &len, &byval, &align);
        Datum *vals;
        bool *nulls;
        int n;
        deconstruct_array(arr, elem, len, byval, align, &vals, &nulls, &n);
        Oid out;
        bool varlena;
        getTypeOutputInfo(elem, &out, &varlena);
        for (int i = 0; i < n; i++)
            if (!nulls[i]) eq_values_.emplace_back(OidOutputFunctionCall(out, vals[i]));
        eq_attnum_ = v->varattno;
    }
}

void CompiledWhere::build(Oid relid, const std::string &where_clause, const std::vector<std::string> &params) {
    Relation rel = pg_guard([&] { return try_table_open(relid, AccessShareLock); });
    if (!rel)
        throw ShapeError("table", ERRCODE_UNDEFINED_TABLE,
                         "relation with OID " + std::to_string(relid) + " does not exist",
                         "The table was dropped; the shape must be created again.");
    MemoryContext caller = CurrentMemoryContext;
    MemoryContext tmp = nullptr;
    try {
        tmp = pg_guard(
            [&] { return AllocSetContextCreate(caller, "electric_sync where analysis", ALLOCSET_DEFAULT_SIZES); });
        pg_guard([&] {
            MemoryContext old = MemoryContextSwitchTo(cxt_);
            tupdesc_ = CreateTupleDescCopy(RelationGetDescr(rel));
            slot_ = MakeSingleTupleTableSlot(tupdesc_, &TTSOpsVirtual);
            econtext_ = CreateStandaloneExprContext();
            // One per-tuple context shared by every compiled where of the process (evaluations
            // never nest; each resets it first): not one per shape (memory per shape).
            static MemoryContext shared_per_tuple = nullptr;
            if (shared_per_tuple == nullptr)
                shared_per_tuple =
                    AllocSetContextCreate(TopMemoryContext, "electric_sync where per tuple", ALLOCSET_DEFAULT_SIZES);
            MemoryContextDelete(econtext_->ecxt_per_tuple_memory);
            econtext_->ecxt_per_tuple_memory = shared_per_tuple;
            MemoryContextSwitchTo(old);
        });
        natts_ = tupdesc_->natts;
        for (int i = 0; i < natts_; i++) {
            slot_->tts_values[i] = (Datum)0;
            slot_->tts_isnull[i] = true;
        }
        inputs_.assign(natts_, nullptr);
        if (!where_clause.empty()) {
            AnalyzedWhere aw;
            {
                ContextSwitch cs(tmp);
                aw = analyze_where(rel, where_clause, params);
            }
            normalized_ = aw.normalized;
            Bitmapset *attrs = nullptr;
            bool nonbuiltin = false;
            role_ = where_role_oid();
            EvalRole as_where_role(role_);  // ExecInitQual checks EXECUTE rights of the current user
            pg_guard([&] {
                MemoryContext old = MemoryContextSwitchTo(cxt_);
                Node *e = static_cast<Node *>(copyObjectImpl(aw.expr));
                List *qual = make_ands_implicit(reinterpret_cast<Expr *>(e));
                qual_ = ExecInitQual(qual, nullptr);
                MemoryContextSwitchTo(tmp);
                pull_varattnos(e, 1, &attrs);
                nonbuiltin = nonbuiltin_walker(e, nullptr);
                find_eq_key(e);
                eq_exact_ = eq_attnum_ > 0 && (IsA(e, OpExpr) || IsA(e, ScalarArrayOpExpr));
                MemoryContextSwitchTo(old);
            });
            needs_subxact_ = nonbuiltin;
            bool whole_row = false;
            std::vector<bool> needed(natts_, false);
            for (int x = -1; (x = bms_next_member(attrs, x)) >= 0;) {
                int attno = x + FirstLowInvalidHeapAttributeNumber;
                if (attno == 0)
                    whole_row = true;
                else if (attno > 0 && attno <= natts_)
                    needed[attno - 1] = true;
            }
            for (int i = 0; i < natts_; i++) {
                Form_pg_attribute att = TupleDescAttr(tupdesc_, i);
                if (att->attisdropped || !(needed[i] || whole_row)) continue;
                AttrInput *in = pg_guard([&] {
                    AttrInput *a = static_cast<AttrInput *>(MemoryContextAllocZero(cxt_, sizeof(AttrInput)));
                    Oid infunc;
                    getTypeInputInfo(att->atttypid, &infunc, &a->ioparam);
                    fmgr_info_cxt(infunc, &a->finfo, cxt_);
                    a->typmod = att->atttypmod;
                    return a;
                });
                inputs_[i] = in;
                attnums_.push_back(i + 1);
            }
        }
    } catch (...) {
        if (tmp) pg_guard([&] { MemoryContextDelete(tmp); });
        pg_guard([&] { table_close(rel, AccessShareLock); });
        throw;
    }
    pg_guard([&] {
        MemoryContextDelete(tmp);
        table_close(rel, AccessShareLock);
    });
}

bool CompiledWhere::matches(const std::vector<std::optional<std::string>> &values) {
    if (always_true()) return true;
    if (static_cast<int>(values.size()) != natts_)
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE,
                       "expected " + std::to_string(natts_) +
                           " column values (one per attribute, dropped columns "
                           "included), got " +
                           std::to_string(values.size()));
    if (eq_exact_) {
        const std::optional<std::string> &v = values[eq_attnum_ - 1];
        return eq_match(v ? std::optional<std::string_view>(*v) : std::nullopt);
    }
    bool result = false;
    auto eval = [&] {
        watchdog::Armed armed;  // electric_sync.where_eval_timeout (in the worker)
        EvalRole as_where_role(role_);
        result = pg_guard([&]() -> bool {
            ResetExprContext(econtext_);
            MemoryContext old = MemoryContextSwitchTo(econtext_->ecxt_per_tuple_memory);
            ExecClearTuple(slot_);
            for (int attno : attnums_) {
                const std::optional<std::string> &v = values[attno - 1];
                if (v) {
                    AttrInput *in = inputs_[attno - 1];
                    slot_->tts_values[attno - 1] =
                        InputFunctionCall(&in->finfo, const_cast<char *>(v->c_str()), in->ioparam, in->typmod);
                    slot_->tts_isnull[attno - 1] = false;
                } else {
                    slot_->tts_values[attno - 1] = (Datum)0;
                    slot_->tts_isnull[attno - 1] = true;
                }
            }
            ExecStoreVirtualTuple(slot_);
            econtext_->ecxt_scantuple = slot_;
            bool r = ExecQual(qual_, econtext_);
            MemoryContextSwitchTo(old);
            return r;
        });
    };
    if (needs_subxact_ && !IsTransactionState())
        throw std::logic_error("CompiledWhere::matches needs a transaction for this where clause");
    try {
        if (needs_subxact_)
            run_in_subtransaction(eval);
        else
            eval();
    } catch (const PgException &e) {
        const ErrorData *ed = e.edata();
        throw SqlError(ed ? ed->sqlerrcode : ERRCODE_INTERNAL_ERROR,
                       std::string("where clause evaluation failed: ") + e.what(),
                       "The shape's where clause raised an error for this row.", ed ? str(ed->detail) : "");
    }
    return result;
}

bool CompiledWhere::matches_row(HeapTupleHeader row) {
    if (!qual_) {
        if (eq_exact_) throw std::logic_error("CompiledWhere::matches_row needs compile(..., keep_executor = true)");
        return true;
    }
    watchdog::Armed armed;
    EvalRole as_where_role(role_);
    return pg_guard([&]() -> bool {
        ResetExprContext(econtext_);
        MemoryContext old = MemoryContextSwitchTo(econtext_->ecxt_per_tuple_memory);
        HeapTupleData tup;
        tup.t_len = HeapTupleHeaderGetDatumLength(row);
        ItemPointerSetInvalid(&tup.t_self);
        tup.t_tableOid = InvalidOid;
        tup.t_data = row;
        ExecClearTuple(slot_);
        heap_deform_tuple(&tup, tupdesc_, slot_->tts_values, slot_->tts_isnull);
        ExecStoreVirtualTuple(slot_);
        econtext_->ecxt_scantuple = slot_;
        bool r = ExecQual(qual_, econtext_);
        MemoryContextSwitchTo(old);
        return r;
    });
}

CompiledWhere::~CompiledWhere() {
    if (cxt_) MemoryContextDelete(cxt_);
}

}  // namespace es
