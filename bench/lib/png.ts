/** docs/performance.png: a headless Chromium screenshot of the SVG (optional, --png). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export async function screenshotSvg(svgFile: string, pngFile: string): Promise<boolean> {
  const browser = CHROMIUM.find((b) => existsSync(b));
  if (!browser) return false;
  const svg = await readFile(svgFile, 'utf8');
  const width = Number(/<svg[^>]*\swidth="(\d+)"/.exec(svg)?.[1] ?? 1200);
  const height = Number(/<svg[^>]*\sheight="(\d+)"/.exec(svg)?.[1] ?? 800);
  return new Promise((resolve) => {
    execFile(
      browser,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        '--default-background-color=ffffffff',
        `--window-size=${width},${height}`,
        `--screenshot=${pngFile}`,
        pathToFileURL(svgFile).href,
      ],
      { timeout: 60_000 },
      (err) => resolve(!err && existsSync(pngFile)),
    );
  });
}
