/**
 * Chart.js, registered with only the parts the dashboard draws (tree-shaken: bar, line and
 * doughnut charts, their scales, tooltip and legend). Only the dashboard's chunk imports this
 * module, so no other route downloads it.
 */

import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js';

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

export type Config = ChartConfiguration<'bar' | 'line' | 'doughnut', number[], string>;

/** The design system's colours (app.css tokens), read when a chart is drawn: light or dark. */
export function palette(): { text: string; grid: string; series: string[] } {
  const style = getComputedStyle(document.documentElement);
  const token = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    text: token('--text-muted', '#555'),
    grid: token('--border', '#ddd'),
    series: [
      token('--accent', '#2563eb'),
      token('--success', '#1d7a46'),
      '#e0a100',
      token('--danger', '#b42318'),
      '#7c3aed',
    ],
  };
}

/** Draw `config` on `canvas`; returns the chart, to update or destroy. */
export function draw(
  canvas: HTMLCanvasElement,
  config: Config,
): Chart<'bar' | 'line' | 'doughnut', number[], string> {
  const colours = palette();
  Chart.defaults.color = colours.text;
  Chart.defaults.borderColor = colours.grid;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  // The design system's colours: one per series, or one per slice of a doughnut.
  config.data.datasets.forEach((dataset, index) => {
    const colour = colours.series[index % colours.series.length]!;
    if (config.type === 'doughnut') {
      dataset.backgroundColor = dataset.data.map(
        (_, slice) => colours.series[slice % colours.series.length]!,
      );
    } else {
      dataset.backgroundColor = config.type === 'line' ? colour : `${colour}cc`;
      dataset.borderColor = colour;
    }
  });
  return new Chart(canvas, config);
}
