// Frame symbol analysis mirroring Jinja2's idtracking: names loaded or stored at a frame's own
// level (if-branches included, child frames not), visited in source order, decide whether a
// first assignment starts from the enclosing value or from Undefined.
#include "template/scoping.h"

#include <set>

namespace nibble::tmpl {

namespace {

struct Symbols {
  const Symbols* parent = nullptr;
  std::set<std::string> refs;
  std::set<std::string> stores;
  std::vector<std::string> undefined;

  bool find_ref(const std::string& name) const {
    for (const Symbols* s = this; s; s = s->parent)
      if (s->refs.count(name)) return true;
    return false;
  }
  void load(const std::string& name) {
    if (!find_ref(name)) refs.insert(name);
  }
  // In an if-branch a first assignment resolves from outside instead (Jinja2's branch_update).
  void store(const std::string& name, bool in_branch) {
    stores.insert(name);
    if (refs.count(name)) return;
    refs.insert(name);
    if (!in_branch && !(parent && parent->find_ref(name))) undefined.push_back(name);
  }
  void param(const std::string& name) {
    stores.insert(name);
    refs.insert(name);
  }
};

void load_names(const Expr* e, Symbols& sym) {
  if (!e) return;
  if (e->kind == ExprKind::name) sym.load(e->name);
  for (const Expr* c : {e->a.get(), e->b.get(), e->c.get(), e->dyn_args.get(), e->dyn_kwargs.get()}) load_names(c, sym);
  for (const auto& i : e->items) load_names(i.get(), sym);
  for (const auto& [k, v] : e->kwargs) load_names(v.get(), sym);
}

void store_target(const Target& t, Symbols& sym, bool in_branch) {
  if (!t.attr.empty()) {
    sym.load(t.name);
  } else if (t.is_tuple) {
    for (const auto& i : t.items) store_target(i, sym, in_branch);
  } else {
    sym.store(t.name, in_branch);
  }
}

void target_params(const Target& t, Symbols& sym) {
  if (t.is_tuple) {
    for (const auto& i : t.items) target_params(i, sym);
  } else {
    sym.param(t.name);
  }
}

void visit_frame_level(const Body& body, Symbols& sym, bool in_branch);

void visit_stmt(const Stmt& s, Symbols& sym, bool in_branch) {
  switch (s.kind) {
    case StmtKind::output:
      for (const auto& e : s.exprs) load_names(e.get(), sym);
      break;
    case StmtKind::if_:
      load_names(s.exprs[0].get(), sym);
      visit_frame_level(s.bodies[0], sym, true);
      for (std::size_t i = 1; i < s.exprs.size(); ++i) {
        load_names(s.exprs[i].get(), sym);
        visit_frame_level(s.bodies[i], sym, true);
      }
      visit_frame_level(s.else_body, sym, true);
      break;
    case StmtKind::for_: load_names(s.iter.get(), sym); break;
    case StmtKind::set:
      load_names(s.iter.get(), sym);
      store_target(s.target, sym, in_branch);
      break;
    case StmtKind::set_block: store_target(s.target, sym, in_branch); break;
    case StmtKind::macro: sym.store(s.macro->name, in_branch); break;
    case StmtKind::call_block: load_names(s.iter.get(), sym); break;
    case StmtKind::filter_block: load_names(s.filter.get(), sym); break;
    case StmtKind::with:
      for (const auto& e : s.exprs) load_names(e.get(), sym);
      break;
    default: break;
  }
}

void visit_frame_level(const Body& body, Symbols& sym, bool in_branch) {
  for (const auto& s : body) visit_stmt(*s, sym, in_branch);
}

std::vector<std::string> analyze_frame(Body& body, const Symbols* parent, Symbols sym);

// Frames opened by statements of `body` (at any if-depth), analyzed once `parent` is complete.
void analyze_children(Body& body, const Symbols& parent) {
  for (auto& s : body) {
    for (auto& b : s->bodies) analyze_children(b, parent);
    switch (s->kind) {
      case StmtKind::if_: analyze_children(s->else_body, parent); break;
      case StmtKind::for_: {
        Symbols loop;
        target_params(s->target, loop);
        loop.param("loop");
        s->body_undefined = analyze_frame(s->body, &parent, std::move(loop));
        s->else_undefined = analyze_frame(s->else_body, &parent, Symbols{});
        break;
      }
      case StmtKind::macro:
      case StmtKind::call_block: {
        Symbols frame;
        MacroDef& m = *s->macro;
        for (const auto& p : m.params) frame.param(p);
        for (const char* special : {"caller", "varargs", "kwargs"}) frame.param(special);
        frame.parent = &parent;
        for (const auto& d : m.defaults) load_names(d.get(), frame);
        m.body_undefined = analyze_frame(m.body, &parent, std::move(frame));
        break;
      }
      case StmtKind::with: {
        Symbols frame;
        frame.parent = &parent;
        for (const auto& t : s->targets) store_target(t, frame, false);
        s->body_undefined = analyze_frame(s->body, &parent, std::move(frame));
        break;
      }
      case StmtKind::filter_block: {
        Symbols frame;
        frame.parent = &parent;
        load_names(s->filter.get(), frame);
        s->body_undefined = analyze_frame(s->body, &parent, std::move(frame));
        break;
      }
      case StmtKind::set_block:
      case StmtKind::generation:
        s->body_undefined = analyze_frame(s->body, &parent, Symbols{});
        break;
      default: break;
    }
  }
}

std::vector<std::string> analyze_frame(Body& body, const Symbols* parent, Symbols sym) {
  sym.parent = parent;
  visit_frame_level(body, sym, false);
  analyze_children(body, sym);
  return sym.undefined;
}

}  // namespace

std::vector<std::string> analyze_scopes(Body& root) { return analyze_frame(root, nullptr, Symbols{}); }

}  // namespace nibble::tmpl
