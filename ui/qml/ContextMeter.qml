// How much of the model's context the conversation plus the draft fills: a bar and "used / total".
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

RowLayout {
    id: meter
    property int used: 0
    property int capacity: 0
    readonly property real fill: capacity > 0 ? Math.min(1, used / capacity) : 0
    spacing: 6

    Label {
        text: meter.capacity > 0 ? qsTr("Context: %1 / %2 tokens").arg(meter.used).arg(meter.capacity) : qsTr("Context: —")
        opacity: 0.7
        font.pointSize: Qt.application.font.pointSize * 0.85
        Accessible.name: text
    }
    ProgressBar {
        from: 0
        to: 1
        value: meter.fill
        Layout.preferredWidth: fm.averageCharacterWidth * 14
        Accessible.name: qsTr("Context used: %1 percent").arg(Math.round(meter.fill * 100))
    }
    FontMetrics { id: fm }
}
