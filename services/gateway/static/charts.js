/* The district page's charts, drawn with the vendored ECharts from the data the page carries. */
(function () {
  "use strict";
  var holder = document.getElementById("chart-data");
  if (!holder || !window.echarts) return;
  var data = JSON.parse(holder.textContent);
  var red = ["#b3262b", "#d9822b", "#2b6cb3", "#3d8f4f", "#7b4fb3", "#8c8c8c"];
  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) return;                                   // no data: the page says 暂无数据 instead
    var chart = echarts.init(el, null, {renderer: "svg"});
    chart.setOption(Object.assign({color: red, animation: false, textStyle: {fontSize: 13}}, option));
    window.addEventListener("resize", function () { chart.resize(); });
  }
  var c = data.checkins;
  draw("chart-checkins", {
    tooltip: {trigger: "axis", valueFormatter: function (v) { return v == null ? "—" : v + "%"; }},
    legend: {top: 0}, grid: {left: 40, right: 12, top: 36, bottom: 28},
    xAxis: {type: "category", data: c.days}, yAxis: {type: "value", max: 100, axisLabel: {formatter: "{value}%"}},
    series: c.series.map(function (s) { return {name: s.name, type: "line", data: s.data, connectNulls: true}; })
  });
  var m = data.months;
  draw("chart-months", {
    tooltip: {trigger: "axis"}, legend: {top: 0}, grid: {left: 40, right: 40, top: 36, bottom: 28},
    xAxis: {type: "category", data: m.labels},
    yAxis: [{type: "value", name: "次"}, {type: "value", name: "小时"}],
    series: [{name: "服务次数", type: "bar", data: m.services}, {name: "服务时长", type: "line", yAxisIndex: 1, data: m.hours}]
  });
  if (data.grades && data.grades.total) {             // all 0: the page says 尚未评定 instead
    draw("chart-grades", {tooltip: {trigger: "item"}, legend: {bottom: 0},
      series: [{type: "pie", radius: ["35%", "65%"], data: data.grades.data, label: {formatter: "{b} {c}人"}}]});
  }
})();
