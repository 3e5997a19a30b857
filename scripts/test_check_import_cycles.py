"""Tests of scripts/check_import_cycles.py: `python3 -m unittest discover -s scripts -p 'test_*.py'`."""

import contextlib
import io
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import check_import_cycles as check  # noqa: E402


class Crate(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.src = self.dir.name

    def tearDown(self):
        self.dir.cleanup()

    def write(self, path, text):
        full = os.path.join(self.src, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(text)

    def edges(self):
        """{module: sorted modules it uses}, names as `a::b` ("" the root)."""
        graph = check.Crate(self.src).edges()
        return {"::".join(a): sorted("::".join(b) for b in targets) for a, targets in graph.items()}

    def loops(self):
        return check.report(self.src)

    # === Edges ===

    def test_use_groups_self_globs_and_renames_resolve_to_the_deepest_module(self):
        self.write("lib.rs", "mod a;\nmod b;\nmod c;\n")
        self.write("a.rs", "use crate::b::{self, Thing as Other, deep::*};\nuse crate::c::Item;\nuse std::sync::Arc;\n")
        self.write("b/mod.rs", "pub mod deep;\n")
        self.write("b/deep.rs", "pub struct X;\n")
        self.write("c.rs", "pub struct Item;\n")
        self.assertEqual(self.edges()["a"], ["b", "b::deep", "c"])

    def test_paths_in_code_count_and_comments_and_strings_do_not(self):
        self.write("lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\n")
        self.write(
            "a.rs",
            "// use crate::c::X;\n/* crate::d::Y /* nested */ crate::d::Z */\n"
            'fn f() -> u8 { let s = "crate::c::x"; let r = r#"crate::d"#; let brace = \'{\';\n'
            "    crate::b::helper() }\n",
        )
        self.write("b.rs", "pub fn helper() -> u8 { 1 }\n")
        self.write("c.rs", "")
        self.write("d.rs", "")
        self.assertEqual(self.edges()["a"], ["b"])

    def test_super_and_child_paths_are_relative_to_the_module(self):
        self.write("lib.rs", "mod outer;\nmod other;\n")
        self.write("outer/mod.rs", "mod inner;\npub fn go() { inner::run(); }\n")
        self.write("outer/inner.rs", "use super::super::other::Thing;\npub fn run() {}\n")
        self.write("other.rs", "pub struct Thing;\n")
        edges = self.edges()
        self.assertEqual(edges["outer"], ["outer::inner"])
        self.assertEqual(edges["outer::inner"], ["other"])

    def test_a_mod_declaration_alone_is_no_edge(self):
        self.write("lib.rs", "mod a;\n")
        self.write("a.rs", "use crate::ROOT_CONST as _;\n")
        self.assertEqual(self.loops(), [])

    # === Loops ===

    def test_two_modules_using_each_other_are_a_loop_with_their_lines(self):
        self.write("lib.rs", "mod engine;\nmod apply;\n")
        self.write("engine.rs", "pub struct Engine;\npub(crate) type Hasher = u8;\n\nuse crate::apply::by_group;\n")
        self.write("apply.rs", "use crate::engine::{Engine, Hasher};\npub fn by_group() {}\n")
        (message,) = self.loops()
        self.assertIn("import loop crate::apply -> crate::engine -> crate::apply", message)
        self.assertIn(f"crate::apply -> crate::engine at {os.path.relpath(os.path.join(self.src, 'apply.rs'))}:1", message)
        self.assertIn(f"crate::engine -> crate::apply at {os.path.relpath(os.path.join(self.src, 'engine.rs'))}:4", message)

    def test_a_longer_loop_lists_every_edge_of_its_knot(self):
        self.write("lib.rs", "mod config;\nmod subscribe;\nmod status;\nmod durability;\nmod leaf;\n")
        self.write("config.rs", "use crate::subscribe::Targets;\nuse crate::leaf::X;\n")
        self.write("subscribe.rs", "use crate::status;\n")
        self.write("status.rs", "fn f() { crate::durability::LogError::x(); }\n")
        self.write("durability.rs", "use crate::config::Settings;\n")
        self.write("leaf.rs", "pub struct X;\n")
        (message,) = self.loops()
        self.assertIn(
            "import loop crate::config -> crate::subscribe -> crate::status -> crate::durability -> crate::config",
            message,
        )
        self.assertNotIn("leaf", message)

    def test_a_child_reaching_back_into_its_re_exporting_parent_is_a_loop(self):
        self.write("lib.rs", "mod accounts;\n")
        self.write("accounts/mod.rs", "mod batch;\npub use batch::AccountBatch;\npub struct AccountKey;\n")
        self.write("accounts/batch.rs", "use super::AccountKey;\npub struct AccountBatch;\n")
        (message,) = self.loops()
        self.assertIn("crate::accounts -> crate::accounts::batch -> crate::accounts", message)

    def test_siblings_through_a_facade_are_no_loop(self):
        self.write("lib.rs", "mod accounts;\npub use accounts::{AccountBatch, AccountKey};\n")
        self.write("accounts/mod.rs", "mod batch;\nmod key;\npub use batch::AccountBatch;\npub use key::AccountKey;\n")
        self.write("accounts/batch.rs", "use super::key::AccountKey;\npub struct AccountBatch;\n")
        self.write("accounts/key.rs", "pub struct AccountKey;\n")
        self.assertEqual(self.loops(), [])

    def test_test_code_may_reach_anywhere(self):
        self.write("lib.rs", "mod a;\nmod b;\npub use a::A;\n")
        self.write(
            "a.rs",
            "use crate::b::B;\npub struct A(B);\n\n#[cfg(test)]\n#[allow(dead_code)]\nmod tests {\n"
            "    use super::*;\n    use crate::A;\n    fn t() { let _ = '}'; }\n}\n",
        )
        self.write("b.rs", "pub struct B;\n#[cfg(test)]\nfn helper() -> crate::a::A { todo!() }\n#[cfg(test)]\nmod more;\n")
        self.assertEqual(self.loops(), [])

    def test_inline_modules_are_their_own_nodes(self):
        self.write("lib.rs", "pub mod proto { pub struct Event; }\nmod convert;\npub use convert::event;\n")
        self.write("convert.rs", "use crate::proto::Event;\npub fn event(_: Event) {}\n")
        self.assertEqual(self.edges()["convert"], ["proto"])
        self.assertEqual(self.loops(), [])

    def test_main_exits_1_listing_loops_and_0_without(self):
        self.write("lib.rs", "mod a;\nmod b;\n")
        self.write("a.rs", "use crate::b::B;\npub struct A;\n")
        self.write("b.rs", "pub struct B;\n")
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(check.main([self.src]), 0)
        self.assertIn("no import loops", out.getvalue())
        self.write("b.rs", "use crate::a::A;\npub struct B;\n")
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(check.main([self.src]), 1)
        self.assertIn("1 import loop(s)", out.getvalue())


if __name__ == "__main__":
    unittest.main()
