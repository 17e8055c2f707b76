import t from 'tap'
import { COMPILING, categoryOf, jsName, parseAnnotate, perfMap, withJsNames } from '../../bench/instructions.js'

// the per-function part of `callgrind_annotate` output, as valgrind 3.19 prints it
const annotate = `--------------------------------------------------------------------------------
591,537,816 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                   file:function
--------------------------------------------------------------------------------
43,127,713 ( 7.29%)  ???:void v8::internal::MarkingVisitorBase<v8::internal::ConcurrentMarkingVisitor>::ProcessStrongHeapObject(v8::internal::HeapObject) [/usr/bin/node]
12,992,183 ( 2.20%)  ???:Builtins_LoadIC [/usr/bin/node]
 6,530,714 ( 1.10%)  ???:0x000000000d1495c0 [???]
 3,531,613 ( 0.60%)  ./malloc/./malloc/malloc.c:_int_free [/usr/lib/x86_64-linux-gnu/libc.so.6]
   900,000 ( 0.15%)  ???:v8::internal::compiler::Scheduler::ComputeSpecialRPO() [/usr/bin/node]
`

t.test('callgrind_annotate lines become functions with their own instructions; the totals line is not one', async (t) => {
  const fns = parseAnnotate(annotate)
  t.equal(fns.length, 5)
  t.same(fns[1], { fn: 'Builtins_LoadIC', object: '/usr/bin/node', instructions: 12_992_183 })
  t.equal(fns[0].fn.startsWith('void v8::internal::MarkingVisitorBase'), true, "a C++ name keeps its own colons, the file's is cut off")
  t.same(fns[3], { fn: '_int_free', object: '/usr/lib/x86_64-linux-gnu/libc.so.6', instructions: 3_531_613 })
})

t.test('every function goes to a kind of work; compiling is told apart', async (t) => {
  const [marking, loadIC, jit, free, compiler] = parseAnnotate(annotate)
  t.equal(categoryOf(marking), 'garbage collection')
  t.equal(categoryOf(loadIC), "V8's property-access stubs (inline caches)")
  t.equal(categoryOf(jit), 'JavaScript compiled by V8, not named')
  t.equal(categoryOf(free), 'C library (malloc, memcpy, system call wrappers)')
  t.equal(categoryOf(compiler), COMPILING)
  const js = (fn: string) => categoryOf({ fn, object: '???', instructions: 1 })
  t.equal(js('commit dist/src/pipeline/pipeline.js:120'), "brixgate's own JavaScript")
  t.equal(js('parseHeaders node_modules/undici/lib/core/util.js:436'), 'undici (JavaScript)')
  t.equal(js('emit node:events:507'), "node's own JavaScript (node:http, streams, timers...)")
  t.equal(js('RegExp:[^\\t\\x20-\\x7e\\x80-\\xff]'), 'regular expressions (V8)')
  t.equal(js("RegExp.> src: '[^\\t\\x20-\\x7e\\x80-\\xff]' flags: ''"), 'regular expressions (V8)', "Node 24's way of naming it")
})

t.test("V8's code map names an address inside a function; the newest entry at a reused address wins", async (t) => {
  const named = perfMap(
    ['1000 20 JS:~commit file:///srv/app/dist/src/pipeline/pipeline.js:120:9', '2000 10 JS:*emit node:events:507:28', '1000 40 JS:*commit file:///srv/app/dist/src/pipeline/pipeline.js:120:9', 'not a line'].join('\n')
  )
  t.equal(named(0x1000), 'JS:*commit file:///srv/app/dist/src/pipeline/pipeline.js:120:9')
  t.equal(named(0x103f), 'JS:*commit file:///srv/app/dist/src/pipeline/pipeline.js:120:9', 'the last byte of the newer, longer code')
  t.equal(named(0x1040), undefined, 'past its end')
  t.equal(named(0x2005), 'JS:*emit node:events:507:28')
  t.equal(named(0xfff), undefined, 'before the first function')
})

t.test('code map names read as function and file, wherever the build lives', async (t) => {
  t.equal(jsName('JS:*commit file:///srv/app/dist/src/pipeline/pipeline.js:120:9'), 'commit dist/src/pipeline/pipeline.js:120')
  t.equal(jsName('JS:~ node:internal/main/run_main_module:1:1'), '(anonymous) node:internal/main/run_main_module:1')
  t.equal(jsName('JS:^parseHeaders /srv/app/node_modules/undici/lib/core/util.js:436:22'), 'parseHeaders node_modules/undici/lib/core/util.js:436')
  t.equal(jsName("JS:+'hot file:///srv/app/dist/src/x.js:1:41"), 'hot dist/src/x.js:1', "Node 24's Maglev code")
  t.equal(jsName('Builtin:StringAdd_CheckNone'), 'Builtins_StringAdd_CheckNone', 'a built-in copied out of the binary keeps its name')
  t.equal(categoryOf({ fn: jsName('Builtin:LoadIC_Megamorphic'), object: '???', instructions: 1 }), "V8's property-access stubs (inline caches)")
  t.equal(jsName('RegExp:[^\\t]'), 'RegExp:[^\\t]', 'anything else is left as V8 wrote it')
})

t.test("a callgrind file's compiled-code addresses are named where V8's map knows them, the rest left as they are", async (t) => {
  const named = perfMap('d20b300 80 JS:*commit file:///srv/app/dist/src/pipeline/pipeline.js:120:9')
  const file = ['fl=(3) ???', 'fn=(12) 0x000000000d20b340', 'cfn=(13) 0x0000000000000010', 'cfn=(12)', 'fn=(14) Builtins_LoadIC_Megamorphic', '5 0x000000000d20b340'].join('\n')
  t.equal(
    withJsNames(file, named),
    ['fl=(3) ???', 'fn=(12) commit dist/src/pipeline/pipeline.js:120', 'cfn=(13) 0x0000000000000010', 'cfn=(12)', 'fn=(14) Builtins_LoadIC_Megamorphic', '5 0x000000000d20b340'].join('\n')
  )
})
