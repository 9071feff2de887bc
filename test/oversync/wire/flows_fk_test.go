package wire

import "testing"

// An FK graph with a cycle (parent.fav -> child, child.parent_id -> parent, both deferrable)
// pushed in one bundle in an order that only works with deferred checks (child first), then a
// parent deleted on the server cascading to its child: a second device sees both in one pull.
func TestFlowForeignKeyCycleAndCascade(t *testing.T) {
	s := fxSchema(t, "fk", `
CREATE TABLE S.parent (_sync_scope_id text NOT NULL, id uuid NOT NULL, fav uuid, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE S.child (_sync_scope_id text NOT NULL, id uuid NOT NULL, parent_id uuid NOT NULL,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES S.parent ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
ALTER TABLE S.parent ADD FOREIGN KEY (_sync_scope_id, fav) REFERENCES S.child (_sync_scope_id, id)
  ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;`, "parent", "child")
	u := fxUser(t, "fk")
	a, b := newFx(t, u, "a"), newFx(t, u, "b")
	a.Attach()
	b.Attach()
	p, c := uuidv4(), uuidv4()
	a.Insert(s, "child", key("id", c), map[string]any{"parent_id": p})
	a.Insert(s, "parent", key("id", p), map[string]any{"fav": c})
	if bd := a.MustPush(10); bd.RowCount != 2 {
		t.Fatalf("cyclic bundle: %+v", bd)
	}
	b.MustPull(10)
	fxSameRows(t, "b after the cycle", fxServerRows(t, s, u), b.View())
	if len(b.View()) != 2 {
		t.Fatalf("b has %d rows, want 2", len(b.View()))
	}
	psql(t, "DELETE FROM "+s+".parent WHERE _sync_scope_id = "+sqlQuote(u))
	b.MustPull(10)
	if v := b.View(); len(v) != 0 {
		t.Fatalf("after the cascading delete b still has %v", v)
	}
	a.MustPull(10)
	fxSameRows(t, "a", fxServerRows(t, s, u), a.View())
}
