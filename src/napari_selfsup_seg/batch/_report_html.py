"""The page around the QC report: one HTML file with its style and script inline.

:data:`PAGE` is a :class:`string.Template`; :mod:`napari_selfsup_seg.batch._report` fills it.
The script sorts the image table by a clicked column (numbers by value, empty cells last) and
filters it by status; nothing is fetched from anywhere.
"""

from __future__ import annotations

from string import Template

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
 max-width:1240px;padding:16px 24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #dde;
 padding-bottom:3px}.meta{color:#556;margin:2px 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid #dde;border-radius:6px;
 padding:6px 12px;min-width:84px}.card b{display:block;font-size:20px}.card.bad b{color:#c62828}
.card.warn b{color:#b26a00}.note{color:#556;font-size:13px;max-width:940px}
.hists{display:flex;flex-wrap:wrap;gap:18px}.hists figure{margin:0}
.hists figcaption{font-size:13px;color:#334;text-align:center}
svg .bar{fill:#5b7fb8}svg .bar.out{fill:#d84343}svg .axis{stroke:#445;stroke-width:1}
svg .bound{stroke:#d84343;stroke-dasharray:4 3;stroke-width:1.5}
svg .tick{font-size:10px;fill:#445}svg .label{font-size:12px;fill:#223}
ul.list{margin:4px 0;padding-left:20px;max-height:260px;overflow:auto}ul.list li{margin:1px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(176px,1fr));gap:10px}
.thumb{margin:0;border:2px solid #e3e6ee;border-radius:6px;padding:4px;background:#fafbfd}
.thumb.flag{border-color:#e0a000}.thumb.failed{border-color:#d84343}
.thumb img{display:block;width:100%;height:auto;image-rendering:pixelated;background:#000}
.thumb figcaption{font-size:12px;overflow-wrap:anywhere;margin-top:3px}
.thumb .why{color:#a33}.nothumb{height:90px;display:flex;align-items:center;justify-content:center;
 background:#f1f1f4;color:#777;font-size:12px;text-align:center;padding:4px}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #eef;
 text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}
#rows th[data-k]{cursor:pointer;user-select:none;background:#f3f5fa;position:sticky;top:0}
#rows th[data-dir=asc]::after{content:" \\25B2"}#rows th[data-dir=desc]::after{content:" \\25BC"}
tr.failed td.s{color:#c62828;font-weight:600}tr.flag td.f{color:#b26a00}
tr.not_run td.s,tr.skipped td.s{color:#667}.settings td:first-child{color:#556;white-space:nowrap}
.tools{margin:6px 0}a{color:#2852a8}
.cols{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
"""

SCRIPT = """
(function(){
 var table=document.getElementById('rows');if(!table)return;
 var body=table.tBodies[0];
 function key(row,i,num){var c=row.cells[i],v=c.getAttribute('data-v');
  if(v===null)v=c.textContent;if(!num)return v.toLowerCase();
  return v===''?null:parseFloat(v);}
 Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
  if(!th.hasAttribute('data-k'))return;
  th.addEventListener('click',function(){
   var asc=th.getAttribute('data-dir')!=='asc',num=th.getAttribute('data-k')==='n';
   Array.prototype.forEach.call(table.tHead.rows[0].cells,function(o){o.removeAttribute('data-dir');});
   th.setAttribute('data-dir',asc?'asc':'desc');
   var rows=Array.prototype.slice.call(body.rows);
   rows.sort(function(a,b){var x=key(a,i,num),y=key(b,i,num);
    if(x===y)return 0;if(x===null)return 1;if(y===null)return -1;
    return (x<y?-1:1)*(asc?1:-1);});
   var frag=document.createDocumentFragment();rows.forEach(function(r){frag.appendChild(r);});
   body.appendChild(frag);});});
 var show=document.getElementById('show');
 if(show)show.addEventListener('change',function(){var w=show.value;
  Array.prototype.forEach.call(body.rows,function(r){
   var ok=w==='all'||r.classList.contains(w);r.style.display=ok?'':'none';});});
})();
"""

PAGE = Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>QC report: $title</title><style>$style</style></head>
<body>
<h1>QC report: $title</h1>
<p class="meta">$meta</p>
<div class="cards">$cards</div>
<h2>Distributions</h2>
<p class="note">$rule</p>
<div class="hists">$hists</div>
<h2>Outliers ($n_outliers)</h2>
$outliers
<h2>Failures ($n_failed)</h2>
$failures
<h2>Thumbnails</h2>
<p class="note">$thumb_note</p>
<div class="grid">$thumbs</div>
<h2>Images ($n_rows)</h2>
<div class="tools">Show <select id="show"><option value="all">all images</option>
<option value="flag">outliers</option><option value="failed">failed</option>
<option value="done">done</option><option value="skipped">skipped</option>
<option value="not_run">not run</option></select>
&nbsp;Click a column heading to sort.</div>
<table id="rows"><thead><tr><th data-k="t">image</th><th data-k="t">status</th>
<th data-k="n">objects</th><th data-k="n">median area (px)</th><th data-k="n">mean area (px)</th>
<th data-k="n">area CV %</th><th data-k="n">seconds</th><th data-k="t">outlier / reason</th>
</tr></thead><tbody>
$rows
</tbody></table>
<h2>Run settings</h2>
<div class="cols">$settings</div>
<p class="note">$footer</p>
<script>$script</script>
</body></html>
"""
)
