//! Prints the schedule, CLIF and assembly of the seed model's kernel.
use ddx::codegen::{compile_with, model_layout, Options};
use ddx::graph::{Graph, Reduction, SymbolKind};
use ddx::schedule::Layout;

fn main() {
    let mut g = Graph::new();
    let x = g.declare("x", SymbolKind::Data);
    let y = g.declare("y", SymbolKind::Data);
    let m = g.declare("m", SymbolKind::Param);
    let b = g.declare("b", SymbolKind::Param);
    let (xn, yn, mn, bn) = (g.sym(x), g.sym(y), g.sym(m), g.sym(b));
    let mx = g.mul(mn, xn);
    let yhat = g.add(mx, bn);
    let r = g.sub(yhat, yn);
    let sq = g.powf(r, 2.0);
    let loss = g.reduce(Reduction::Mean, sq);
    let grad = ddx::diff::gradient(&mut g, loss, &[m, b]);
    let outputs = [loss, grad[0], grad[1]];
    let layout = Layout { params: vec![m, b], columns: vec![x, y] };
    let _ = model_layout;
    let k = compile_with(&g, &outputs, &layout, &Options { inspect: true, ..Options::default() }).unwrap();
    println!("{}", k.schedule());
    println!("{}", k.clif().unwrap());
    println!("{}", k.asm().unwrap());
    let xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let ys = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37];
    let mut out = [0.0; 3];
    k.call(&[0.9, 0.1], &[&xs, &ys], &mut out).unwrap();
    let want = ddx::eval::eval(&g, &outputs, &layout, &[0.9, 0.1], &[&xs, &ys]).unwrap();
    println!("jit {out:?}\ninterp {want:?}");
}
